"""Periodic duties once per schedule across the fleet: however many workers run their loop at
once, each duty runs once per `periodic_s`; a worker killed mid-duty holds it only until its
lease ends (issue 13, item 2)."""

from __future__ import annotations

import threading
from collections import Counter

from minimaker.adapters import duty_leases
from minimaker.bootstrap import build
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.registry import Registries
from minimaker.settings import Settings


def _counting(settings: Settings, clock: ManualClock, ran: Counter[str]) -> Container:
    """A container whose duties count their runs (the duties are the test's, the schedule
    and the database are the real ones)."""

    def duty(name: str):  # type: ignore[no-untyped-def]
        def run(c: Container) -> int:
            ran[name] += 1
            return 1

        return run

    c = build(settings, clock=clock)
    duties = {name: duty(name) for name in ("deliver", "sweep", "check")}
    object.__setattr__(c, "registries", Registries(duties=duties))
    return c


def test_two_workers_at_once_run_each_duty_once_per_interval(
    settings: Settings, clock: ManualClock
) -> None:
    ran: Counter[str] = Counter()
    c = _counting(settings, clock, ran)
    workers = [Worker(c) for _ in range(4)]
    start = threading.Barrier(len(workers))

    def loop(w: Worker) -> None:
        start.wait()
        w.run_scheduled_duties()

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert ran == Counter({"deliver": 1, "sweep": 1, "check": 1})
    assert workers[0].run_scheduled_duties() == {}  # not due again yet
    clock.advance(seconds=settings.periodic_s)
    assert set(workers[1].run_scheduled_duties()) == {"deliver", "sweep", "check"}
    assert ran == Counter({"deliver": 2, "sweep": 2, "check": 2})
    rows = duty_leases.schedule(c.engine)
    assert all(r.leased_until is None and r.last_finished_at == clock.now() for r in rows.values())
    c.close()


def test_a_worker_killed_mid_duty_holds_it_only_until_its_lease_ends(
    settings: Settings, clock: ManualClock
) -> None:
    ran: Counter[str] = Counter()
    c = _counting(settings, clock, ran)
    now = clock.now()
    lease = settings.duty_lease_s
    assert duty_leases.claim(
        c.engine, "sweep", holder="dead:1", now=now, every_s=settings.periodic_s, lease_s=lease
    )  # ...and its worker was killed: no release
    clock.advance(seconds=settings.periodic_s)
    assert "sweep" not in Worker(c).run_scheduled_duties()
    clock.advance(seconds=lease)
    assert Worker(c).run_scheduled_duties()["sweep"] == 1
    assert duty_leases.schedule(c.engine)["sweep"].holder is None
    c.close()


def test_the_explicit_run_still_runs_every_duty_and_records_no_schedule(
    settings: Settings, clock: ManualClock
) -> None:
    ran: Counter[str] = Counter()
    c = _counting(settings, clock, ran)
    Worker(c).run_duties()
    Worker(c).run_duties()  # `worker --once` and the tests: now, whatever the schedule
    assert ran == Counter({"deliver": 2, "sweep": 2, "check": 2})
    assert duty_leases.schedule(c.engine) == {}
    c.close()


class _OwnSchedule:
    """A duty keeping an interval of its own, as retention, the sweep and the self-check do."""

    def __init__(self) -> None:
        self.ran = 0

    def __call__(self, c: Container) -> int:
        self.ran += 1
        return 1


def test_a_duty_with_an_interval_of_its_own_runs_once_per_that_interval_across_workers(
    settings: Settings, clock: ManualClock
) -> None:
    # Each process has its own instance of the duty (and so its own memory of its last run):
    # only the fleet-wide claim can keep a second worker from running it again at once.
    containers = [build(settings, clock=clock) for _ in range(2)]
    duties = [_OwnSchedule() for _ in containers]
    for c, duty in zip(containers, duties, strict=True):
        object.__setattr__(
            c,
            "registries",
            Registries(duties={"own": duty}, intervals={"own": "retention_interval_s"}),
        )
    first, second = (Worker(c) for c in containers)
    assert first.run_scheduled_duties() == {"own": 1}
    clock.advance(seconds=settings.periodic_s)
    assert second.run_scheduled_duties() == {}  # due again only after its own interval
    clock.advance(seconds=settings.retention_interval_s - settings.periodic_s)
    assert second.run_scheduled_duties() == {"own": 1}
    assert [d.ran for d in duties] == [1, 1]
    for c in containers:
        c.close()
