"""Workers: claim a job, run its handler, record the outcome. Embedded or standalone.

A claim is a short lease that a heartbeat thread renews while the handler runs: a worker that
dies (kill -9, a lost machine) stops renewing, and another claims its job one lease later.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from minimaker.adapters import duty_leases
from minimaker.adapters import job_queue as queue
from minimaker.adapters.job_queue import Job, LeaseLost, WorkUnfinished
from minimaker.kernel.container import Container
from minimaker.kernel.errors import MiniMakerError, StorageUnavailable

log = logging.getLogger("minimaker.worker")

Handler = Callable[[Container, Job], None]
#: Why a run failed: the reason stored on the job, whether to retry, whether it counts.
Failure = tuple[str, bool, bool]


class PermanentFailure(MiniMakerError):
    """A handler's signal that retrying cannot help (bad input, not a passing fault)."""


class Worker:
    """Runs jobs from the database queue until stopped."""

    def __init__(self, c: Container, handlers: dict[str, Handler] | None = None) -> None:
        self.c = c
        self.handlers = dict(handlers if handlers is not None else c.registries.handlers)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._last_duties = float("-inf")

    def run_once(self) -> bool:
        """Claim and run one job; False when there was nothing to do."""
        job = queue.claim(
            self.c.engine,
            worker=self.name,
            now=self.c.clock.now(),
            lease_s=self.c.settings.job_lease_s,
            kinds=tuple(self.handlers),
        )
        if job is None:
            return False
        if job.attempts > job.max_attempts:
            # Every attempt ended with its worker dead (killed, out of memory): one more
            # would take this worker down too. Its lease ran out, so no attempt is running.
            self._failed(job, ("its worker stopped during every attempt", False, True))
            return True
        with Heartbeat(self.c, job), queue.holding(job):
            failure = self._run(job)
        if failure is not None:
            self._failed(job, failure)
        return True

    def _run(self, job: Job) -> Failure | None:
        """Run the job's handler; how it failed, or None if it finished (or lost its lease)."""
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise PermanentFailure(f"no handler for job kind {job.kind}")
            handler(self.c, job)
        except LeaseLost:
            # Another worker runs it now, or it was cancelled: this run's work rolled back.
            log.warning(
                "job %s (%s) lost its lease; this run's work was discarded", job.id, job.kind
            )
        except WorkUnfinished as exc:
            return exc.message, True, False
        except StorageUnavailable as exc:
            # The store is down or refusing us: the fault passes, and it is not the job's. An
            # outage of any length is waited out (the backoff grows), never a job failed.
            return exc.message, True, False
        except MiniMakerError as exc:
            return exc.message, not isinstance(exc, PermanentFailure) and exc.status >= 500, True
        except Exception as exc:
            # Only the type goes to the log and the job row: messages may quote data.
            log.error("job %s (%s) raised %s", job.id, job.kind, type(exc).__name__)
            return f"internal error ({type(exc).__name__})", True, True
        return None

    def _failed(self, job: Job, failure: Failure) -> None:
        reason, retry, counted = failure
        now = self.c.clock.now()
        final = queue.fail(self.c.engine, job, reason=reason, now=now, retry=retry, counted=counted)
        if final is None:
            log.warning(
                "job %s (%s) lost its lease before its failure was recorded", job.id, job.kind
            )
            return
        if final:
            on_final = getattr(self.handlers.get(job.kind), "on_final_failure", None)
            if on_final is not None:
                on_final(self.c, job, reason)
        log.warning(
            "job %s (%s) failed%s: %s", job.id, job.kind, "" if final else ", will retry", reason
        )

    def run_duties(self) -> dict[str, int]:
        """Run the periodic duties now (mail delivery, archive expiry, overdue alarms)."""
        self._last_duties = time.monotonic()
        return self.c.registries.run_duties(self.c)

    def run_scheduled_duties(self) -> dict[str, int]:
        """The duties due across the fleet, each claimed first (adapters/duty_leases.py): with
        any number of workers, each duty runs once per `every_s`. Returns those it ran."""
        self._last_duties = time.monotonic()
        settings, done = self.c.settings, {}
        for name in sorted(self.c.registries.duties):
            claimed = duty_leases.claim(
                self.c.engine,
                name,
                holder=self.name,
                now=self.c.clock.now(),
                every_s=self.every_s(name),
                lease_s=settings.duty_lease_s,
            )
            if not claimed:
                continue
            try:
                done[name] = self.c.registries.run_duty(self.c, name)
            finally:
                duty_leases.release(self.c.engine, name, holder=self.name, now=self.c.clock.now())
        return done

    def every_s(self, name: str) -> float:
        """How often a duty is due across the fleet: every periodic_s, or the interval of its
        own the registry names (retention, the sweep, the self-check), so that it runs once
        per that interval across all workers, not once per worker."""
        periodic = self.c.settings.periodic_s
        own = self.c.registries.intervals.get(name)
        return max(periodic, float(getattr(self.c.settings, own))) if own else periodic

    def run_until_idle(self, max_jobs: int = 10_000) -> int:
        """Run jobs and duties until nothing is due; returns how many jobs ran (tests, --once)."""
        ran = 0
        while ran < max_jobs:
            self.run_duties()
            if not self.run_once():
                self.run_duties()  # what the last job queued (mail) goes out now
                if not self.run_once():
                    break
            ran += 1
        return ran

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                if time.monotonic() - self._last_duties >= self.c.settings.periodic_s:
                    self.run_scheduled_duties()
                busy = self.run_once()
            except Exception:
                log.exception("worker loop error")
                busy = False
            if not busy:
                self._stop.wait(self.c.settings.worker_poll_s)

    def stop(self) -> None:
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="minimaker-worker", daemon=True)
        thread.start()
        return thread


class Heartbeat:
    """Renews a running job's lease every third of it, from its own thread, while in `with`."""

    def __init__(self, c: Container, job: Job) -> None:
        self.c, self.job = c, job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="minimaker-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        lease_s = self.c.settings.job_lease_s
        while not self._stop.wait(lease_s / 3):
            try:
                held = queue.renew(self.c.engine, self.job, now=self.c.clock.now(), lease_s=lease_s)
            except Exception as exc:
                # The database is busy or away for a moment: two more beats before it matters.
                log.warning("job %s: lease renewal failed (%s)", self.job.id, type(exc).__name__)
                continue
            if not held:
                # Finished a moment ago, cancelled, or taken over: nothing left to renew. The
                # fence (queue.finish) keeps a run that lost its lease from finishing the job.
                log.info("job %s: its lease is no longer held; the heartbeat stops", self.job.id)
                return
