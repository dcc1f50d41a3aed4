"""Fixtures of the audit chain tests: an engine of their own, and a sound chain to tamper with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from minimaker.adapters import audit_chain as audit
from minimaker.adapters.db import make_engine, make_sessionmaker
from tests.adapters.audit_helpers import CHAIN_LENGTH, append_one_by_one
from tests.seaweed import seaweed  # noqa: F401  # a fixture: one real SeaweedFS per process


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def chained(engine: Engine, sessions: sessionmaker[Session]) -> Engine:
    """A sound chain of CHAIN_LENGTH entries, one transaction each."""
    append_one_by_one(sessions, CHAIN_LENGTH)
    assert audit.verify(engine).entries == CHAIN_LENGTH
    return engine
