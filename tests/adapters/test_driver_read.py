"""A read on the driver's cursor gives what SQLAlchemy gives, and leaves the pool as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import bindparam, select, text, update

from minimaker.accounts.tables import AuthSession, User
from minimaker.adapters.driver_read import DriverRead
from minimaker.kernel.container import Container
from tests.conftest import signup_and_login

PROFILE = (
    select(User.id, User.name_enc, User.username_enc, User.created_at, AuthSession.expires_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.id == bindparam("sid"), AuthSession.expires_at > bindparam("now"))
)


def _session_id(container: Container) -> str:
    with container.engine.connect() as conn:
        return str(conn.execute(select(AuthSession.id)).scalar_one())


def test_a_driver_read_returns_exactly_what_sqlalchemy_returns(
    client: TestClient, container: Container
) -> None:
    signup_and_login(client)
    sid, now = _session_id(container), datetime.now(UTC)
    with container.engine.connect() as conn:
        expected = conn.execute(PROFILE, {"sid": sid, "now": now}).one()
    row = DriverRead(PROFILE).one_or_none(container.engine, {"sid": sid, "now": now})
    assert tuple(row) == tuple(expected)
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
    assert row.username_enc == expected.username_enc  # columns by name, bytes as bytes


def test_the_bound_time_is_compared_as_the_column_stores_it(
    client: TestClient, container: Container
) -> None:
    # The `now` parameter goes through the column type's own binding (UTC, the stored form):
    # a session is live a microsecond before it expires and ended a microsecond after.
    signup_and_login(client)
    sid = _session_id(container)
    read = DriverRead(PROFILE)
    # On a whole second, where a driver's own datetime format ("...:00+00:00") and the stored
    # one ("...:00.000000") sort the wrong way round as text.
    expires = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    with container.engine.begin() as conn:
        conn.execute(update(AuthSession).values(expires_at=expires))
    tick = timedelta(microseconds=1)
    assert read.one_or_none(container.engine, {"sid": sid, "now": expires - tick}) is not None
    assert read.one_or_none(container.engine, {"sid": sid, "now": expires}) is None
    assert read.one_or_none(container.engine, {"sid": "0" * 32, "now": expires - tick}) is None


def test_a_driver_read_leaves_no_transaction_open_on_the_pooled_connection(
    client: TestClient, container: Container
) -> None:
    signup_and_login(client)
    read = DriverRead(PROFILE)
    for _ in range(3):
        read.one_or_none(
            container.engine, {"sid": _session_id(container), "now": datetime.now(UTC)}
        )
    with container.engine.connect() as conn:  # the same pooled connection, as SQLAlchemy sees it
        driver = conn.connection.driver_connection
        if container.engine.dialect.name == "sqlite":
            assert not driver.in_transaction  # type: ignore[union-attr]
        else:
            assert driver.autocommit is False  # type: ignore[union-attr]  # put back as found
            assert driver.info.transaction_status.name == "IDLE"  # type: ignore[union-attr]
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
