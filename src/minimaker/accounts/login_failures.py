"""A subject's failed-login counters: their account's, and those of their login names.

Failures against an account are counted under a blind index of its id; a name no account
had when it was tried is counted under a blind index of the name, reached here through the
subject's sealed names (so erasure runs this while their key still exists). Per-address and
per-device counters are nobody's in particular and stay for their short window.
"""

from __future__ import annotations

from sqlalchemy import CursorResult, delete

from minimaker.accounts import rules, throttle
from minimaker.accounts.tables import LoginFailure, User
from minimaker.adapters.crypto.fields import open_field
from minimaker.kernel.unit_of_work import UnitOfWork


def forget_subject(uow: UnitOfWork, subject_id: str) -> int:
    """Delete the failed-login counters of the subject's account and names; how many went."""
    user = uow.session.get(User, subject_id)
    if user is None:
        return 0
    dek = uow.keys.subject_key(subject_id)
    index_key = uow.c.secret("blind_index")
    username = open_field(dek, subject_id=subject_id, field="username", sealed=user.username_enc)
    email = open_field(dek, subject_id=subject_id, field="email", sealed=user.email_enc)
    # The same values accounts.authentication.login counts failures under.
    values = (
        f"account:{subject_id}",
        f"name:username:{rules.username_key(username)}",
        f"name:email:{rules.email_key(email)}",
    )
    keys = [throttle.account_key(index_key, value) for value in values]
    result = uow.session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys)))
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
