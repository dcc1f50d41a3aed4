"""Start-up: what `serve` does before it serves (and `db upgrade` does on its own)."""

from __future__ import annotations

from dataclasses import dataclass

from minimaker.adapters import migrate
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.operations import events, sweep
from minimaker.rights import erasure


@dataclass(frozen=True)
class StartupReport:
    """What start-up changed (counts only: the ids it touched are pseudonymous anyway)."""

    migrations: int  # data-database revisions applied
    replayed: int  # erased subjects whose rows were back (a restore), erased again
    temps: int = 0  # temp files of writes a crash cut short, removed
    orphans: int = 0  # blobs no row names (a crash before a commit), removed


def upgrade_schemas(c: Container) -> int:
    """Bring both databases to their latest schema; how many data-database revisions it took."""
    todo = migrate.pending(c.engine)
    migrate.upgrade_all(c)
    if todo:
        with c.uow() as uow:
            uow.audit(
                events.SCHEMA_UPGRADED,
                actor=SYSTEM_CLI,
                object=f"revision:{todo[-1]}:applied:{len(todo)}",
            )
            uow.commit()
    return len(todo)


def prepare(c: Container) -> StartupReport:
    """Before serving: both schemas at head, whom the erasure ledger names erased again, and
    what a crash left behind swept away."""
    migrations = upgrade_schemas(c)
    # Art. 17: a restored backup must not bring an erased subject back, even for a moment.
    replayed = erasure.replay_ledger(c)
    # After the replay, whose rows and blobs go first: what is left unnamed is a crash's.
    swept = sweep.sweep_strays(c)
    return StartupReport(
        migrations=migrations, replayed=replayed, temps=swept.temps, orphans=swept.orphans
    )
