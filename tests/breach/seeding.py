"""Seeded subjects, uploads and staff reads with a known answer, for the scoping tests."""

from __future__ import annotations

from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.kernel.container import Container
from minimaker.staff import subject_access
from minimaker.staff.rules import Reason, ReasonCode
from minimaker.uploads import service as uploads
from tests.conftest import photo_bytes
from tests.staff.signing_in import identity, ready_staff


def subject(c: Container, username: str) -> str:
    """A subject signed up through the accounts service; their id."""
    return accounts.signup(
        c,
        name="Ada Lovelace",
        email=f"{username}@example.org",
        username=username,
        password="correct horse battery staple",
    ).id


def upload(c: Container, user_id: str, seed: int = 7) -> str:
    """A photo stored through the upload service; its blob id."""
    made = uploads.create_upload(c, user_id=user_id, data=photo_bytes(seed=seed))
    with c.sessions() as s:
        blob_id = s.scalar(select(uploads.Upload.blob_id).where(uploads.Upload.id == made.id))
    assert blob_id is not None
    return blob_id


def staff_member(c: Container, username: str, role: str = "support") -> str:
    """A ready staff member (second factor, training, policy); their staff id."""
    return ready_staff(c, username, role).id


def staff_reads(c: Container, username: str, subject_ids: list[str]) -> None:
    """The member signs in and reads each subject's profile for a stated reason."""
    who = identity(c, username)
    reason = Reason(ReasonCode.USER_SUPPORT, "SUP-7")
    for subject_id in subject_ids:
        subject_access.read_profile(c, who, subject_id=subject_id, reason=reason)
