"""The account's sections of an access or portability archive: the profile and sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from minimaker.accounts.tables import AuthSession, User
from minimaker.adapters.crypto.fields import open_field
from minimaker.kernel.errors import NotFound
from minimaker.kernel.personal_data import SCHEMA_ID, SCHEMA_TIME, Exported, iso, schema_object
from minimaker.kernel.unit_of_work import UnitOfWork

_SEALED = ("name", "email", "username")

#: JSON Schema of the profile section (portability, Art. 20).
PROFILE_SCHEMA = schema_object(
    {"id": SCHEMA_ID, **{k: {"type": "string"} for k in _SEALED}}
    | {"created_at": SCHEMA_TIME, "updated_at": SCHEMA_TIME}
)


def profile(uow: UnitOfWork, subject_id: str) -> Exported:
    """The subject's name, email and username, opened with their key; NotFound without one."""
    user = uow.session.get(User, subject_id)
    if user is None:
        raise NotFound("account")
    dek = uow.keys.subject_key(user.id)
    sealed = {"name": user.name_enc, "email": user.email_enc, "username": user.username_enc}
    opened = {k: open_field(dek, subject_id=user.id, field=k, sealed=v) for k, v in sealed.items()}
    data = {"id": user.id, **opened}
    return Exported(data | {"created_at": iso(user.created_at), "updated_at": iso(user.updated_at)})


def sessions(uow: UnitOfWork, subject_id: str) -> Exported:
    """When each of the subject's sign-in sessions began and ends."""
    # Session ids stay out of the archive: with a signing key they are half a credential.
    query = select(AuthSession.created_at, AuthSession.expires_at).where(
        AuthSession.user_id == subject_id
    )
    rows = uow.session.execute(query.order_by(AuthSession.created_at)).all()
    return Exported([{"created_at": iso(a), "expires_at": iso(b)} for a, b in rows])


def restricted_since(uow: UnitOfWork, subject_id: str) -> datetime | None:
    """Since when the subject's processing is restricted (Art. 18), or None."""
    return uow.session.scalar(select(User.restricted_at).where(User.id == subject_id))
