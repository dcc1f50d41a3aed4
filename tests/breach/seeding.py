"""Seeded subjects, uploads and staff reads with a known answer, for the scoping tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.adapters.crypto.keys import generate_key
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations.backup import create_backup
from minimaker.operations.key_rotation import rotate_master_key
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


@dataclass(frozen=True)
class StaffBreach:
    """The known answer of a compromised staff account: sam read ada and bob (ada has two
    photos, dee one nobody read), tia read cyd; `since` is just before sam's reads."""

    ada: str
    bob: str
    cyd: str
    dee: str
    sam: str
    since: datetime


def staff_breach(c: Container, clock: ManualClock) -> StaffBreach:
    """Seed the known answer above, the clock an hour past the reads."""
    ada, bob, cyd, dee = (subject(c, n) for n in ("ada", "bob", "cyd", "dee"))
    upload(c, ada, seed=1)
    upload(c, ada, seed=2)
    upload(c, dee, seed=3)
    sam = staff_member(c, "sam")
    staff_member(c, "tia")
    clock.advance(hours=1)
    since = clock.now()
    staff_reads(c, "sam", [ada, bob])
    staff_reads(c, "tia", [cyd])  # another member's reads are not sam's
    clock.advance(hours=1)
    return StaffBreach(ada, bob, cyd, dee, sam, since)


def stolen_backup(c: Container, clock: ManualClock, path: Path) -> tuple[str, str, str]:
    """A backup holding ada (one photo) and bob, then cyd signed up and the master key rotated:
    (ada, bob, cyd); the backup is at `path`."""
    ada, bob = subject(c, "ada"), subject(c, "bob")
    upload(c, ada)
    create_backup(c, path)
    clock.advance(hours=1)
    cyd = subject(c, "cyd")  # signed up after the backup: not in it
    rotate_master_key(c, new_key=generate_key())
    return ada, bob, cyd
