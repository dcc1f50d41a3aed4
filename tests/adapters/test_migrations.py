"""The migrations build exactly the schema the models describe, on each backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData

from minimaker.adapters.db import Base
from minimaker.adapters.keystore import KeyBase
from minimaker.kernel.container import Container


def _diff(engine: Engine, metadata: MetaData, other: MetaData) -> list[Any]:
    # The two schemas may share one database (PostgreSQL tests): compare each to its own.
    ignore = {"alembic_version", "keystore_version", *other.tables}

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table not in ignore

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include}
        )
        return list(compare_metadata(context, metadata))


def test_the_data_migrations_match_the_models(container: Container) -> None:
    assert _diff(container.engine, Base.metadata, KeyBase.metadata) == []


def test_the_key_store_migrations_match_its_models(container: Container) -> None:
    assert _diff(container.key_engine, KeyBase.metadata, Base.metadata) == []
