"""A subject's failed-login counters, found by the keyed hashes of their login names.

The counters are keyed by a blind index of the username or email, never the account id, so
only the subject's sealed names (opened with their key) lead to them: erasure runs this
while the key still exists. Per-IP counters are nobody's in particular and stay for their
short window.
"""

from __future__ import annotations

from sqlalchemy import CursorResult, delete

from minimaker.accounts import rules
from minimaker.accounts.tables import LoginFailure, User
from minimaker.adapters.crypto.fields import blind_index, open_field
from minimaker.kernel.unit_of_work import UnitOfWork


def forget_subject(uow: UnitOfWork, subject_id: str) -> int:
    """Delete the failed-login counters of the subject's username and email; how many went."""
    user = uow.session.get(User, subject_id)
    if user is None:
        return 0
    dek = uow.keys.subject_key(subject_id)
    index_key = uow.c.secret("blind_index")
    names = (
        rules.username_key(
            open_field(dek, subject_id=subject_id, field="username", sealed=user.username_enc)
        ),
        rules.email_key(
            open_field(dek, subject_id=subject_id, field="email", sealed=user.email_enc)
        ),
    )
    # The same keys accounts.service.login counts failures under.
    keys = [blind_index(index_key, field="throttle-account", value=n) for n in names]
    result = uow.session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys)))
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
