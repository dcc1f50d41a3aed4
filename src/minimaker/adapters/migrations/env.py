"""Alembic environment: runs on the connection `minimaker.adapters.migrate` hands it."""

from __future__ import annotations

from alembic import context

from minimaker import bootstrap

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=bootstrap.metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
