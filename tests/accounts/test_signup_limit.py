"""Sign-ups are limited per address: each one costs a memory-hard password hash."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.accounts import passwords
from minimaker.accounts.tables import User
from minimaker.bootstrap import build
from minimaker.entrypoints.app import create_app
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from tests.browser import form_token

PASSWORD = "correct horse battery staple"


def person(i: int) -> dict[str, str]:
    return {
        "name": f"Person {i}",
        "email": f"person{i}@example.org",
        "username": f"person{i}",
        "password": PASSWORD,
    }


def users(c: Container) -> int:
    with c.sessions() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def test_sign_ups_past_the_limit_of_an_address_get_429_and_create_nothing(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    limit = container.settings.signup_max_per_address
    for i in range(limit):
        assert client.post("/api/v1/auth/signup", json=person(i)).status_code == 201
    refused = client.post("/api/v1/auth/signup", json=person(limit))
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= container.settings.signup_window_s
    assert users(container) == limit
    # Refused on the page too, with the same Retry-After, nothing typed lost but the password.
    data = {**person(limit + 1), "csrf": form_token(client, "/signup")}
    page = client.post("/signup", data=data, follow_redirects=False)
    assert page.status_code == 429 and "retry-after" in page.headers
    assert 'value="person6@example.org"' in page.text and PASSWORD not in page.text
    assert users(container) == limit
    clock.advance(seconds=container.settings.signup_window_s)
    assert client.post("/api/v1/auth/signup", json=person(limit)).status_code == 201


def test_an_invalid_sign_up_is_not_counted_against_the_address(
    client: TestClient, container: Container
) -> None:
    for i in range(container.settings.signup_max_per_address + 2):
        bad = {**person(i), "email": "not an address"}
        assert client.post("/api/v1/auth/signup", json=bad).status_code == 422
    assert client.post("/api/v1/auth/signup", json=person(0)).status_code == 201


def test_other_addresses_sign_up_while_one_is_refused(
    client: TestClient, container: Container
) -> None:
    for i in range(container.settings.signup_max_per_address):
        assert client.post("/api/v1/auth/signup", json=person(i)).status_code == 201
    assert client.post("/api/v1/auth/signup", json=person(90)).status_code == 429
    with TestClient(client.app, base_url="https://testserver", client=("192.0.2.9", 1)) as other:
        assert other.post("/api/v1/auth/signup", json=person(91)).status_code == 201


@pytest.fixture
def slow_hashes(settings: Settings, clock: ManualClock) -> Iterator[tuple[TestClient, Settings]]:
    """An app whose password hash takes long enough to tell apart from none at all."""
    slow = settings.model_copy(
        update={"argon2_time_cost": 60, "argon2_memory_kib": 8192, "signup_max_per_address": 1}
    )
    c = build(slow, clock=clock)
    try:
        with TestClient(create_app(c, worker=False), base_url="https://testserver") as tc:
            yield tc, slow
    finally:
        c.close()


def test_a_refused_sign_up_computes_no_password_hash(
    slow_hashes: tuple[TestClient, Settings],
) -> None:
    client, slow = slow_hashes
    # CPU time of this process (every thread): what other processes on the machine do
    # does not blur it, and a hash costs far more of it than anything else in a sign-up.
    started = time.process_time()
    passwords.hash_password(slow, PASSWORD)
    one_hash = time.process_time() - started
    assert client.post("/api/v1/auth/signup", json=person(0)).status_code == 201
    started = time.process_time()
    assert client.post("/api/v1/auth/signup", json=person(1)).status_code == 429
    refused = time.process_time() - started
    assert one_hash > 0.15
    assert refused < one_hash / 3, (refused, one_hash)
