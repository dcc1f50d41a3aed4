"""Workers: claim a job, run its handler, record the outcome. Embedded or standalone."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from minimaker.adapters import job_queue as queue
from minimaker.adapters.job_queue import Job
from minimaker.kernel.container import Container
from minimaker.kernel.errors import MiniMakerError

log = logging.getLogger("minimaker.worker")

Handler = Callable[[Container, Job], None]


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
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise PermanentFailure(f"no handler for job kind {job.kind}")
            handler(self.c, job)
        except MiniMakerError as exc:
            retry = not isinstance(exc, PermanentFailure) and exc.status >= 500
            self._failed(job, exc.message, retry=retry)
        except Exception as exc:
            # Only the type goes to the log and the job row: messages may quote data.
            log.error("job %s (%s) raised %s", job.id, job.kind, type(exc).__name__)
            self._failed(job, f"internal error ({type(exc).__name__})", retry=True)
        return True

    def _failed(self, job: Job, reason: str, *, retry: bool) -> None:
        final = queue.fail(self.c.engine, job, reason=reason, now=self.c.clock.now(), retry=retry)
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
                    self.run_duties()
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
