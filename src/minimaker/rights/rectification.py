"""Rectification (Art. 16): correct the profile, and tell every recipient of a copy (Art. 19).

`correct` is the one correction use case: a rectification request, `PATCH /api/v1/me` and the
privacy centre's profile form all go through it, so every correction gets the same notices.
The correction and the recipient notices are one unit of work: no corrected profile without
its notices, no notice of a correction that did not happen.
"""

from __future__ import annotations

from minimaker.accounts import service as accounts
from minimaker.accounts.service import Profile
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ValidationFailed
from minimaker.rights import recipients
from minimaker.rights.fulfil import Work

#: The profile fields a rectification may correct.
FIELDS = ("name", "email", "username")


def rectify(c: Container, work: Work) -> str | None:
    """Fulfiller: apply the corrected fields the request names."""
    fields = {k: v for k, v in ((k, work.details.get(k)) for k in FIELDS) if isinstance(v, str)}
    if not fields:
        raise ValidationFailed("details", "name, email or username to correct is required")
    correct(c, user_id=work.subject_id, **fields)
    return None


def correct(
    c: Container,
    *,
    user_id: str,
    name: str | None = None,
    email: str | None = None,
    username: str | None = None,
) -> Profile:
    """Correct the profile and queue the Art. 19 notices, in one unit of work."""
    correction = accounts.prepare_correction(c, name=name, email=email, username=username)
    with c.uow() as uow:
        corrected = accounts.apply_correction(uow, user_id=user_id, correction=correction)
        if corrected.fields:  # nothing changed, nobody to tell
            recipients.notify_recipients(uow, subject_id=user_id, what="rectification")
            uow.commit()
    return corrected.profile
