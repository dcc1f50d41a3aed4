"""Throttles that slow an attacker without locking out others (OWASP lockout guidance).

Every client here is a TestClient of the same app, so all of them come from one address
("testclient"): the attacker, the victim and the bystander share it, as behind a NAT.
"""

from __future__ import annotations

from collections.abc import Iterator
from string import hexdigits

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from minimaker.accounts import devices, login_failures, throttle
from minimaker.accounts import service as accounts
from minimaker.accounts.tables import LoginFailure
from minimaker.adapters.crypto.keys import generate_key
from minimaker.bootstrap import build
from minimaker.entrypoints.app import create_app
from minimaker.entrypoints.http import client_ip
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.settings import Settings

PASSWORD = "correct horse battery staple"
DEVICE = "mm_device"


def register(c: Container, username: str) -> str:
    profile = accounts.signup(
        c,
        name=username.title(),
        email=f"{username}@example.org",
        username=username,
        password=PASSWORD,
    )
    return profile.id


def token(client: TestClient, username: str, password: str = PASSWORD) -> Response:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


@pytest.fixture
def attacker(client: TestClient) -> Iterator[TestClient]:
    """A client of its own (no cookies) from the same address as everyone else."""
    with TestClient(client.app, base_url="https://testserver") as other:
        yield other


def spray(attacker: TestClient, names: list[str], rounds: int) -> list[int]:
    """Wrong passwords against each name, `rounds` times over; the statuses answered."""
    return [
        token(attacker, name, f"guess number {r}").status_code
        for r in range(rounds)
        for name in names
    ]


def enough_to_flag_the_address(c: Container) -> list[str]:
    return [f"target{i}" for i in range(c.settings.login_address_max_failures)]


def test_a_person_nobody_attacked_signs_in_from_an_address_that_sprayed_others(
    client: TestClient, attacker: TestClient, container: Container
) -> None:
    register(container, "bystander")
    names = enough_to_flag_the_address(container)
    for name in names:
        register(container, name)
    assert set(spray(attacker, names, rounds=1)) == {401}
    assert set(spray(attacker, names, rounds=1)) == {429}  # the address is flagged
    # Never signed in before, on no known device, from that very address: let through.
    assert token(client, "bystander").status_code == 200


def test_the_victim_signs_in_during_a_spray_on_their_own_account_from_a_known_client(
    client: TestClient, attacker: TestClient, container: Container
) -> None:
    register(container, "victim")
    assert token(client, "victim").status_code == 200  # this client is now known
    assert DEVICE in client.cookies
    names = ["victim", *enough_to_flag_the_address(container)]
    spray(attacker, names, rounds=container.settings.login_max_failures)
    assert token(attacker, "victim").status_code == 429  # unknown clients meet the lockout
    with TestClient(client.app, base_url="https://testserver") as new_client:
        assert token(new_client, "victim").status_code == 429
    assert token(client, "victim").status_code == 200  # the known client passes


def _forged(cookie: str) -> str:
    body, mac = cookie.rsplit(".", 1)
    return f"{body}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"


def _other_key(container: Container, user_id: str) -> str:
    tag = devices.account_tag(container.secret("blind_index"), user_id)
    return devices.mint(generate_key(), tag=tag, now=container.clock.now())


@pytest.mark.parametrize("kind", ["forged", "signed with another key", "another account's"])
def test_a_bad_device_cookie_gives_no_way_past_the_lockout(
    client: TestClient, attacker: TestClient, container: Container, kind: str
) -> None:
    victim = register(container, "victim")
    register(container, "other")
    assert token(client, "victim").status_code == 200
    mine = client.cookies[DEVICE]
    spray(attacker, ["victim"], rounds=container.settings.login_max_failures)
    if kind == "forged":
        cookie = _forged(mine)
    elif kind == "signed with another key":
        cookie = _other_key(container, victim)
    else:
        with TestClient(client.app, base_url="https://testserver") as others:
            assert token(others, "other").status_code == 200
            cookie = others.cookies[DEVICE]
    with TestClient(client.app, base_url="https://testserver", cookies={DEVICE: cookie}) as c:
        assert token(c, "victim").status_code == 429
    assert token(client, "victim").status_code == 200  # the genuine one still passes


def test_an_expired_device_cookie_gives_no_way_past_the_lockout(
    client: TestClient, attacker: TestClient, container: Container, clock: ManualClock
) -> None:
    register(container, "victim")
    assert token(client, "victim").status_code == 200
    clock.advance(seconds=container.settings.device_cookie_ttl_days * 86400 + 1)
    spray(attacker, ["victim"], rounds=container.settings.login_max_failures)
    assert token(client, "victim").status_code == 429


def test_a_known_device_stops_passing_once_it_used_up_its_own_failures(
    client: TestClient, attacker: TestClient, container: Container
) -> None:
    register(container, "victim")
    assert token(client, "victim").status_code == 200
    limit = container.settings.login_max_failures
    spray(attacker, ["victim"], rounds=limit)
    # A stolen device cookie buys no more than `limit` guesses of its own.
    assert [token(client, "victim", "not it at all").status_code for _ in range(limit)] == [
        401
    ] * limit
    assert token(client, "victim").status_code == 429


def test_failures_against_one_account_slow_it_down_exponentially(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    register(container, "victim")
    register(container, "neighbour")
    s = container.settings
    spray(client, ["victim"], rounds=s.login_max_failures)
    waits = []
    for _ in range(4):
        refused = token(client, "victim")
        assert refused.status_code == 429
        waits.append(int(refused.headers["retry-after"]))
        clock.advance(seconds=waits[-1])
        assert token(client, "victim", "yet another guess").status_code == 401
    base = s.login_backoff_s
    assert waits == [base * 2**i for i in range(4)]
    assert token(client, "neighbour").status_code == 200  # other accounts are not slowed


def test_the_account_counts_failures_whichever_of_its_names_is_typed(
    client: TestClient, container: Container
) -> None:
    register(container, "victim")
    half = container.settings.login_max_failures // 2 + 1
    spray(client, ["victim"], rounds=half)
    spray(client, ["victim@example.org"], rounds=half)
    assert token(client, "victim").status_code == 429


def test_a_forged_forwarding_header_is_ignored_so_a_rotating_one_is_still_throttled(
    client: TestClient, container: Container
) -> None:
    names = enough_to_flag_the_address(container)
    statuses = []
    for i, name in enumerate(names * 2):
        r = client.post(
            "/api/v1/auth/token",
            data={"username": name, "password": "a wrong guess"},
            headers={"X-Forwarded-For": f"198.51.100.{i}", "Forwarded": f"for=203.0.113.{i}"},
        )
        statuses.append(r.status_code)
    assert set(statuses[: len(names)]) == {401}
    assert set(statuses[len(names) :]) == {429}


@pytest.fixture
def behind_proxy(settings: Settings, clock: ManualClock) -> Iterator[tuple[TestClient, Container]]:
    """The app reached through a reverse proxy at 10.0.0.2, which is configured as trusted."""
    c = build(settings.model_copy(update={"trusted_proxies": ["10.0.0.0/24"]}), clock=clock)
    app = create_app(c, worker=False)
    try:
        with TestClient(app, base_url="https://testserver", client=("10.0.0.2", 1)) as tc:
            yield tc, c
    finally:
        c.close()


def test_a_trusted_proxy_names_the_client_by_the_right_most_hop_it_does_not_trust(
    behind_proxy: tuple[TestClient, Container],
) -> None:
    proxy, c = behind_proxy
    names = enough_to_flag_the_address(c)

    def attempt(name: str, forwarded: str) -> int:
        data = {"username": name, "password": "a wrong guess"}
        return proxy.post(
            "/api/v1/auth/token", data=data, headers={"X-Forwarded-For": forwarded}
        ).status_code

    # The client forges the left part; our proxy appends the address it saw (192.0.2.7).
    assert {attempt(n, f"198.51.100.{i}, 192.0.2.7") for i, n in enumerate(names)} == {401}
    assert {attempt(n, f"198.51.100.{i}, 192.0.2.7") for i, n in enumerate(names)} == {429}
    # Another client behind the same proxy is another address: not flagged.
    assert attempt(names[0], "192.0.2.8, 10.0.0.3") == 401


def test_failure_counters_hold_no_name_address_or_id_in_clear(
    client: TestClient, container: Container
) -> None:
    user_id = register(container, "victim")
    assert token(client, "victim").status_code == 200
    spray(client, ["victim", "victim@example.org", "nobody"], rounds=2)
    with container.sessions() as session:
        keys = session.scalars(select(LoginFailure.key)).all()
    assert keys and all(len(k) == 64 and set(k) <= set(hexdigits) for k in keys)
    cookie = client.cookies[DEVICE]
    for clear in ("victim", "example.org", "testclient", user_id):
        assert clear not in cookie
        assert not any(clear in k for k in keys)


def test_erasure_forgets_the_accounts_counters(client: TestClient, container: Container) -> None:
    user_id = register(container, "victim")
    spray(client, ["victim", "victim@example.org"], rounds=1)
    with container.uow() as uow:
        assert login_failures.forget_subject(uow, user_id) == 2
        uow.commit()
    with container.sessions() as session:
        left = session.scalars(select(LoginFailure.key)).all()
    assert len(left) == 2  # the address's counts: nobody's in particular, gone with the window


def test_the_window_still_releases_an_account_after_it(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    register(container, "victim")
    spray(client, ["victim"], rounds=container.settings.login_max_failures + 3)
    assert token(client, "victim").status_code == 429
    clock.advance(seconds=container.settings.login_window_s + 1)
    assert token(client, "victim").status_code == 200


def test_the_backoff_starts_at_the_limit_doubles_and_stops_at_the_window(
    settings: Settings,
) -> None:
    limit, base = settings.login_max_failures, settings.login_backoff_s
    waits = [throttle.backoff_s(settings, n) for n in range(limit + 7)]
    doubling = [min(base * 2**i, settings.login_window_s) for i in range(7)]
    assert waits == [0] * limit + doubling
    assert waits[-1] == settings.login_window_s


def _client_ip(c: Container, peer: str, headers: dict[str, str]) -> str:
    """What http.client_ip makes of a request from `peer` with `headers`."""
    scope = {
        "type": "http",
        "app": create_app(c, worker=False),
        "client": (peer, 1),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return client_ip(Request(scope))


@pytest.mark.parametrize(
    ("header", "peer", "sent", "seen"),
    [
        ("x-forwarded-for", "10.0.0.2", {"X-Forwarded-For": "1.1.1.1, 192.0.2.7"}, "192.0.2.7"),
        ("x-forwarded-for", "10.0.0.2", {"X-Forwarded-For": "192.0.2.7, 10.0.0.9"}, "192.0.2.7"),
        ("x-forwarded-for", "10.0.0.2", {"X-Forwarded-For": "10.0.0.8, 10.0.0.9"}, "10.0.0.8"),
        ("x-forwarded-for", "10.0.0.2", {}, "10.0.0.2"),
        ("x-forwarded-for", "192.0.2.1", {"X-Forwarded-For": "1.1.1.1"}, "192.0.2.1"),
        ("x-forwarded-for", "10.0.0.2", {"Forwarded": "for=1.1.1.1"}, "10.0.0.2"),
        (
            "forwarded",
            "10.0.0.2",
            {"Forwarded": 'for="[2001:db8::1]:4711", for=192.0.2.7;proto=https'},
            "192.0.2.7",
        ),
        ("forwarded", "10.0.0.2", {"Forwarded": 'for="[2001:db8::1]:4711"'}, "2001:db8::1"),
        ("forwarded", "10.0.0.2", {"X-Forwarded-For": "1.1.1.1"}, "10.0.0.2"),
        ("forwarded", "::ffff:10.0.0.2", {"Forwarded": "for=192.0.2.7:80"}, "192.0.2.7"),
    ],
)
def test_the_client_is_the_right_most_hop_the_configured_header_names_past_our_proxies(
    settings: Settings, clock: ManualClock, header: str, peer: str, sent: dict[str, str], seen: str
) -> None:
    update = {"trusted_proxies": ["10.0.0.0/24"], "forwarded_header": header}
    c = build(settings.model_copy(update=update), clock=clock)
    try:
        assert _client_ip(c, peer, sent) == seen
    finally:
        c.close()


def test_addresses_of_one_ipv6_64_are_counted_as_one() -> None:
    assert throttle.address_value("2001:db8:1:2::1") == throttle.address_value("2001:db8:1:2:ff::9")
    assert throttle.address_value("2001:db8:1:2::1") != throttle.address_value("2001:db8:1:3::1")
    assert throttle.address_value("::ffff:192.0.2.1") == "192.0.2.1"
