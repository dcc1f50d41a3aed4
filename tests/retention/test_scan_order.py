"""A sweep walks its rule's index in (seek, key) order: it finds every expired row whatever
the order of their keys, and reads the expired rows rather than the table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from minimaker import bootstrap
from minimaker.accounts.tables import LoginFailure
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.retention import service as retention
from minimaker.settings import Settings
from tests.retention.world import build_world, cutoff, signup

#: Rules whose table has no index on its anchor yet, each with the reason.
UNINDEXED: dict[str, str] = {}


@pytest.fixture
def small_batches(settings: Settings, clock: ManualClock) -> Iterator[Container]:
    c = bootstrap.build(settings.model_copy(update={"retention_batch": 2}), clock=clock)
    try:
        yield c
    finally:
        c.close()


def test_a_dry_run_counts_every_expired_row_when_keys_and_anchors_run_opposite_ways(
    small_batches: Container,
) -> None:
    c = small_batches
    old = cutoff(c, "login_failures") - timedelta(minutes=1)
    with c.uow() as uow:
        # Each later key is an older row: a scan resuming by key alone would stop early.
        uow.session.add_all(
            LoginFailure(key=f"k{i}", at=old - timedelta(hours=i)) for i in range(7)
        )
        uow.session.add(LoginFailure(key="live", at=c.clock.now()))
        uow.commit()
    rules = frozenset({"login_failures"})
    dry = retention.run(c, bootstrap.expiries(), dry_run=True, rules=rules)
    assert retention.counts(dry) == {"login_failures": 7}
    assert retention.counts(retention.run(c, bootstrap.expiries(), rules=rules)) == {
        "login_failures": 7
    }
    with c.sessions() as s:
        assert s.scalars(select(LoginFailure.key)).all() == ["live"]


def _first_select(c: Container, find: Any, *args: Any) -> tuple[str, Any]:
    """The statement and parameters of the first SELECT that `find(uow, *args)` runs."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(c.engine, "before_cursor_execute", capture)
    try:
        with c.uow(write=False) as uow:
            batch = find(uow, *args)
    finally:
        event.remove(c.engine, "before_cursor_execute", capture)
    assert seen
    return (*seen[0], batch)  # type: ignore[return-value]


def test_every_finder_searches_an_index_instead_of_scanning_its_table(
    container: Container,
) -> None:
    c = container
    if c.engine.dialect.name != "sqlite":
        pytest.skip("the plan is read from SQLite; PostgreSQL's depends on its statistics")
    build_world(c, signup(c, "ada"))
    for expiry in bootstrap.expiries():
        if expiry.rule in UNINDEXED:
            continue
        at = cutoff(c, expiry.rule) + timedelta(days=1)
        # A batch of one resumes after its row: the plan with the keyset condition too.
        *_, first = _first_select(c, expiry.find, at, 1, None)
        statement, params, _ = _first_select(c, expiry.find, at, 1, first.resume_after)
        with c.engine.connect() as conn:
            plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]
        assert not [p for p in plan if p.startswith("SCAN")], (expiry.rule, plan)
