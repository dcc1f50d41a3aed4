"""Schema migrations: `minimaker db upgrade`, and `serve` applies pending ones at start."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from minimaker.adapters import keystore

if TYPE_CHECKING:
    from minimaker.kernel.container import Container

_SCRIPTS = Path(__file__).with_name("migrations")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every pending migration up to `revision`."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def upgrade_all(c: Container) -> None:
    """Bring both the data database and the key store to their latest schema."""
    upgrade(c.engine)
    keystore.upgrade(c.key_engine)


def pending(engine: Engine) -> list[str]:
    """Revisions not yet applied to this database, oldest first."""
    script = ScriptDirectory.from_config(_config())
    with engine.connect() as conn:
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
