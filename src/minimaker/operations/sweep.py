"""The sweep: what killed writers left in the blob store goes, once it is nobody's work in progress.

A process killed mid-write leaves a temp file (`.tmp-*`, never renamed), or a whole blob whose
unit of work never committed the row naming it (killed between the rename and the commit, or
between a commit that deleted rows and the deletion of their blobs). Both are ciphertext under
a subject's key, yet data we keep for no purpose (policy 3.5, storage limitation), that no
erasure would find by its rows and no quota would count. The sweep removes them at start-up and
on a schedule, once they are older than `settings.sweep_grace_s`: a live request finishes its
write well within that, so the sweep never takes a blob from under one.

"Referenced" is derived from the personal-data registry (`c.personal_data.blob_columns()`: every
declared blob column, of personal tables and of those declared not personal, such as the
anonymous corpus), never from a list of tables here, so a new table's blobs are safe too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from minimaker.kernel.actors import SYSTEM_RETENTION
from minimaker.kernel.container import Container
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.operations import events

_BATCH = 500  # blob ids per IN (...): each blob column is unique, so these are index lookups


@dataclass(frozen=True)
class SweepReport:
    """What one sweep removed (counts only: which files is nobody's business)."""

    temps: int = 0  # temp files of writes that never finished
    orphans: int = 0  # blobs no row names


def sweep_strays(c: Container) -> SweepReport:
    """Remove temp files and orphan blobs older than the grace age; audited if any went."""
    cutoff = c.clock.now() - timedelta(seconds=c.settings.sweep_grace_s)
    store = c.blobs.store
    temps = store.remove_temps_before(cutoff)
    orphans = 0
    for unreferenced in _unreferenced(c, cutoff):
        orphans += sum(store.delete(blob_id) for blob_id in unreferenced)
    report = SweepReport(temps=temps, orphans=orphans)
    if temps or orphans:
        with c.uow() as uow:
            uow.audit(
                events.STRAYS_SWEPT,
                actor=SYSTEM_RETENTION,
                object=f"temps:{temps}:orphans:{orphans}",
            )
            uow.commit()
    return report


def count_orphans(c: Container) -> int:
    """How many blobs older than the grace age no row names (the self-check's count: nothing
    is deleted, and which blobs is nobody's business)."""
    cutoff = c.clock.now() - timedelta(seconds=c.settings.sweep_grace_s)
    return sum(len(batch) for batch in _unreferenced(c, cutoff))


def _unreferenced(c: Container, cutoff: datetime) -> Iterator[list[str]]:
    """The blobs written before `cutoff` that no declared row names, batch by batch."""
    # The old blobs are listed before the rows are read: a blob whose row commits meanwhile
    # is then seen as referenced (and a row cannot newly name a blob older than the grace).
    for batch in _batches(c.blobs.store.written_before(cutoff)):
        with c.uow(write=False) as uow:
            unreferenced = set(batch) - _referenced(uow, batch)
        if unreferenced:
            yield sorted(unreferenced)


def _referenced(uow: UnitOfWork, blob_ids: list[str]) -> set[str]:
    """Which of `blob_ids` a row of any declared table names."""
    found: set[str] = set()
    for table, name in uow.c.personal_data.blob_columns():
        column = getattr(table, name)
        found.update(uow.session.scalars(select(column).where(column.in_(blob_ids))))
    return found


def _batches(ids: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for blob_id in ids:
        batch.append(blob_id)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class ScheduledSweep:
    """The periodic duty: a sweep at most every `settings.sweep_interval_s` (the first at once).

    Workers run their duties every few seconds; a sweep lists the whole store, so it keeps to
    its own, longer interval. Several workers sweeping at once is harmless: deletes are
    idempotent, and each counts only what it removed itself.
    """

    def __init__(self) -> None:
        self._last = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, c: Container) -> int:
        with self._lock:
            if time.monotonic() - self._last < c.settings.sweep_interval_s:
                return 0
            self._last = time.monotonic()
        report = sweep_strays(c)
        return report.temps + report.orphans
