"""Purpose-bound processing: every use of a subject's data asks here first (Art. 18, 21)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from minimaker.accounts.service import restricted_since
from minimaker.kernel.errors import ProcessingRefused
from minimaker.kernel.purposes import Activity, Purpose, check
from minimaker.rights.tables import Objection


def subject_state(session: Session, subject_id: str) -> tuple[bool, frozenset[str]]:
    """Whether the subject is restricted, and the purposes they object to."""
    objections = frozenset(
        session.scalars(select(Objection.purpose).where(Objection.subject_id == subject_id))
    )
    return restricted_since(session, subject_id) is not None, objections


def ensure_allowed(session: Session, subject_id: str, activity: Activity) -> Purpose:
    """The purpose `activity` runs under for this subject, or ProcessingRefused."""
    restricted, objections = subject_state(session, subject_id)
    return check(activity, restricted=restricted, objections=objections)


def allowed(session: Session, subject_id: str, activity: Activity) -> bool:
    """The same rule as a yes/no, for optional processing that is simply skipped."""
    restricted, objections = subject_state(session, subject_id)
    try:
        check(activity, restricted=restricted, objections=objections)
    except ProcessingRefused:
        return False
    return True
