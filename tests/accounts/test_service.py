"""The sign-in throttle: helpers work inside their caller's unit, the caller decides what stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from minimaker.accounts import service as accounts
from minimaker.accounts.tables import LoginFailure
from minimaker.kernel.container import Container
from minimaker.kernel.errors import InvalidCredentials, TooManyAttempts

PASSWORD = "correct horse battery staple"
KEY = "k" * 64


def _longest_window(c: Container) -> int:
    """Counters are pruned past the longest window any throttle reads (sign-ups: an hour)."""
    return max(c.settings.login_window_s, c.settings.signup_window_s)


def _failures(c: Container) -> int:
    with c.sessions() as session:
        return session.scalar(select(func.count()).select_from(LoginFailure)) or 0


def _one_expired_and_the_limit_on(c: Container, key: str) -> None:
    """An expired counter (to be pruned) and `key` at the limit, committed."""
    now = c.clock.now()
    expired = now - timedelta(seconds=_longest_window(c) + 1)
    with c.uow() as uow:
        uow.session.add(LoginFailure(key="e" * 64, at=expired))
        accounts.record_failures(uow, [key] * c.settings.login_max_failures, now)
        uow.commit()


def test_the_throttle_check_says_how_long_to_wait_and_commits_nothing(
    container: Container,
) -> None:
    _one_expired_and_the_limit_on(container, KEY)
    before = _failures(container)
    with container.uow() as uow:
        wait = accounts.throttle_wait(container, uow, [KEY], container.clock.now())
        # The unit ends here without a commit: whatever the check did must vanish with it.
    assert wait == container.settings.login_window_s
    assert _failures(container) == before  # the pruning was not committed behind our back
    with container.uow() as uow:
        assert accounts.throttle_wait(container, uow, ["f" * 64], container.clock.now()) is None


def test_a_refused_sign_in_keeps_the_pruning_because_the_caller_commits_it(
    container: Container,
) -> None:
    accounts.signup(
        container, name="Ada", email="ada@example.org", username="ada", password=PASSWORD
    )
    limit = container.settings.login_max_failures
    for _ in range(limit):
        with pytest.raises(InvalidCredentials):
            accounts.login(container, login="ada", password="wrong" * 4, client_ip="192.0.2.1")
    now = container.clock.now()
    with container.uow() as uow:
        expired = now - timedelta(seconds=_longest_window(container) + 1)
        uow.session.add(LoginFailure(key="e" * 64, at=expired))
        uow.commit()
    with pytest.raises(TooManyAttempts):
        accounts.login(container, login="ada", password=PASSWORD, client_ip="192.0.2.2")
    assert _failures(container) == 2 * limit  # the expired counter went, nothing was added
