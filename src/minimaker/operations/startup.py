"""Start-up: what `serve` does before it serves (and `db upgrade` does on its own)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from minimaker.adapters import migrate
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.kernel.errors import StorageUnavailable
from minimaker.operations import events, residency, sweep
from minimaker.publication import service as publication
from minimaker.rights import erasure
from minimaker.sharing import relay as smtp_relay

log = logging.getLogger("minimaker.startup")


@dataclass(frozen=True)
class StartupReport:
    """What start-up changed (counts only: the ids it touched are pseudonymous anyway)."""

    migrations: int  # data-database revisions applied
    replayed: int  # erased subjects whose rows were back (a restore), erased again
    temps: int = 0  # temp files of writes a crash cut short, removed
    orphans: int = 0  # blobs no row names (a crash before a commit), removed


def upgrade_schemas(c: Container) -> int:
    """Bring both databases to their latest schema; how many data-database revisions it took."""
    todo = migrate.upgrade_all(c)
    if todo:
        with c.uow() as uow:
            uow.audit(
                events.SCHEMA_UPGRADED,
                actor=SYSTEM_CLI,
                object=f"revision:{todo[-1]}:applied:{len(todo)}",
            )
            uow.commit()
    return len(todo)


def refuse_unlawful_places(c: Container) -> None:
    """Before any process (server or worker) stores or sends anything: the places it would."""
    # Policy 10.1, 10.2: no store outside the EU/EEA without a recorded safeguard, before
    # anything is written (bootstrap.build checked the settings; this, the policy in force).
    residency.check(c)
    # Policy 7.1, 10.2: no mail goes to a relay the policy does not name under a valid DPA.
    smtp_relay.check_relay(c)
    check_blob_store(c)


def check_blob_store(c: Container) -> None:
    """The blob store is the one configured: a bucket that does not exist or refuses our keys
    stops the start (ConfigurationError). One that does not answer yet does not: the process
    starts, /readyz says not ready, and it serves once the store answers."""
    try:
        c.blobs.store.check()
    except StorageUnavailable:
        log.warning("the blob store does not answer yet; starting unready")


def prepare(c: Container) -> StartupReport:
    """Before serving: both schemas at head, whom the erasure ledger names erased again, and
    what a crash left behind swept away."""
    refuse_unlawful_places(c)
    migrations = upgrade_schemas(c)
    # Policy 12: a new version of the policy file is published (kept whole, significant ones
    # told to every user) before anyone is served under it; a reused version is refused.
    publication.publish_if_new(c)
    # Art. 17: a restored backup must not bring an erased subject back, even for a moment.
    replayed = erasure.replay_ledger(c)
    # After the replay, whose rows and blobs go first: what is left unnamed is a crash's.
    try:
        swept = sweep.sweep_strays(c)
    except StorageUnavailable:  # the worker's sweep duty runs it once the store answers
        log.warning("the blob store does not answer: the stray sweep waits for its duty")
        swept = sweep.SweepReport()
    return StartupReport(
        migrations=migrations, replayed=replayed, temps=swept.temps, orphans=swept.orphans
    )
