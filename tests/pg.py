"""A fresh, migrated PostgreSQL database of its own, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from minimaker.adapters import keystore, migrate
from minimaker.adapters.db import make_engine


@contextmanager
def fresh_pg_database(admin_url: str, *, tag: str = "test", migrated: bool = True) -> Iterator[str]:
    """CREATE DATABASE minimaker_<tag>_<random> on the server of `admin_url`, migrated (rows
    and key store, in the same database) unless not `migrated`, its URL yielded; DROP ...
    WITH (FORCE) at the end."""
    admin_url_ = make_url(admin_url)
    name = f"minimaker_{tag}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url_, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url_.set(database=name).render_as_string(hide_password=False)
    try:
        if migrated:
            engine = make_engine(url)
            migrate.upgrade(engine)
            keystore.upgrade(engine)  # same database here; backups still leave its tables out
            engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
