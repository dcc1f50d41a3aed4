"""The retention mechanics of the account tables: sessions, failed-login counters, and the
finder of inactive accounts (the retention feature warns and erases them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update

from minimaker.accounts.tables import AuthSession, LoginFailure, PasswordReset, User
from minimaker.kernel.retention import Expiry
from minimaker.retention.declare import table_expiry

#: When an account was last used: its last sign-in (or "keep my account"), else its creation.
LAST_ACTIVE = func.coalesce(User.last_active_at, User.created_at)


def _throttle_window(settings: Any) -> timedelta:
    # A counter deleted inside its window would let an attacker's count start over.
    return timedelta(seconds=max(settings.login_window_s, settings.signup_window_s))


def expiries() -> tuple[Expiry, ...]:
    """The rules of the account tables (policy categories credentials and security_log)."""
    return (
        table_expiry(
            rule="sessions",
            category="credentials",
            what="sign-in sessions",
            table=AuthSession,
            key=AuthSession.id,
            anchor=AuthSession.expires_at,
            subject=AuthSession.user_id,
        ),
        table_expiry(
            rule="password_resets",
            category="credentials",
            what="password-reset links",
            table=PasswordReset,
            key=PasswordReset.id,
            anchor=PasswordReset.expires_at,
            subject=PasswordReset.user_id,
        ),
        table_expiry(
            rule="login_failures",
            category="security_log",
            what="failed sign-in counters",
            table=LoginFailure,
            key=LoginFailure.id,
            anchor=LoginFailure.at,
            floor=_throttle_window,
        ),
    )


def inactive_accounts(*, rule: str, what: str, remove: Any, post_filter: Any) -> Expiry:
    """Mechanics over accounts last used at or before the cutoff (the inactivity rules)."""
    return table_expiry(
        rule=rule,
        category="account",
        what=what,
        table=User,
        key=User.id,
        anchor=LAST_ACTIVE,
        seek=User.created_at,  # an account is used after it is made
        subject=User.id,
        remove=remove,
        post_filter=post_filter,
    )


def mark_active(uow: Any, subject_id: str, now: datetime) -> bool:
    """Record that the account was used now; whether it exists."""
    result = uow.session.execute(
        update(User).where(User.id == subject_id).values(last_active_at=now)
    )
    return bool(getattr(result, "rowcount", 0))
