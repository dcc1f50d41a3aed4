"""Alembic environment of the key store (a database apart from the data it protects)."""

from __future__ import annotations

from alembic import context

from minimaker.adapters.keystore import KeyBase

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=KeyBase.metadata,
    version_table="keystore_version",
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
