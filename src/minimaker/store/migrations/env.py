"""Alembic environment: runs on the connection `minimaker.store.migrate` hands it."""

from __future__ import annotations

from alembic import context

from minimaker.store import models  # noqa: F401 - registers every table on Base.metadata
from minimaker.store.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
