"""Schema migrations: `minimaker db upgrade`, and `serve` applies pending ones at start."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from minimaker.adapters import keystore
from minimaker.adapters.db import exclusive_transaction

if TYPE_CHECKING:
    from minimaker.kernel.container import Container

_SCRIPTS = Path(__file__).with_name("migrations")
#: The advisory lock of the data database's migrations (the key store has its own).
MIGRATION_LOCK = 0x6D6D_0001


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> list[str]:
    """Apply every pending migration up to `revision`; the revisions applied, oldest first.

    Under the migration lock (several processes may start at once on a fresh database):
    what is pending is read after the lock is held, so only the first process applies it."""
    cfg = _config()
    with exclusive_transaction(engine, MIGRATION_LOCK) as conn:
        before = _pending_on(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = set(_pending_on(conn))
    return [rev for rev in before if rev not in after]


def upgrade_all(c: Container) -> list[str]:
    """Bring both the data database and the key store to their latest schema; the data
    database's revisions applied."""
    applied = upgrade(c.engine)
    keystore.upgrade(c.key_engine)
    return applied


def pending(engine: Engine) -> list[str]:
    """Revisions not yet applied to this database, oldest first."""
    with engine.connect() as conn:
        return _pending_on(conn)


def _pending_on(conn: Connection) -> list[str]:
    script = ScriptDirectory.from_config(_config())
    current = MigrationContext.configure(conn).get_current_revision()
    revs = [s.revision for s in script.walk_revisions(base="base", head="heads")]
    revs.reverse()
    if current is None:
        return revs
    return revs[revs.index(current) + 1 :]


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the models (developer tool)."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
