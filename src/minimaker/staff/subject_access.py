"""Reason-bound staff access to a subject's personal data (policy 5.2, 11.2; Art. 5(2), 32).

Each read needs the role (READ_SUBJECT_DATA), current training, the policy in force
acknowledged (`service.permit`) and a stated reason from a fixed list with an optional ticket
id. The audit entry - reason code and ticket, never free text - is committed in the unit of
the read, before anything is handed back: data shown to staff never goes unrecorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from minimaker.accounts import service as accounts
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound
from minimaker.kernel.ids import audited_id, is_id
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import intake, lifecycle
from minimaker.staff import events
from minimaker.staff.rules import Action, Reason, ReasonCode
from minimaker.staff.service import StaffIdentity, permit

#: The purpose each reason serves, as the audit records it.
PURPOSE_OF: dict[ReasonCode, Purpose] = {
    ReasonCode.HANDLING_REQUEST: Purpose.SERVICE,
    ReasonCode.USER_SUPPORT: Purpose.SERVICE,
    ReasonCode.SECURITY_INCIDENT: Purpose.SECURITY,
    ReasonCode.LEGAL_CLAIM: Purpose.SECURITY,
}


@dataclass(frozen=True)
class SubjectProfile:
    """A subject's account profile as staff read it, with the reason it was shown for."""

    id: str
    name: str
    email: str
    username: str
    created_at: datetime
    reason: str
    reference: str | None


@dataclass(frozen=True)
class RequestDetails:
    """A request's sealed details and evidence of identity, opened for a stated reason."""

    id: str
    subject_id: str
    details: dict[str, Any]
    evidence: str | None
    reason: str
    reference: str | None


def _audit_read(
    uow: UnitOfWork, staff: StaffIdentity, subject_id: str, what: str, reason: Reason
) -> None:
    uow.audit(
        events.SUBJECT_DATA_READ,
        actor=staff.actor,
        subject=subject_id,
        object=f"{what}:{reason.audited}",
        purpose=PURPOSE_OF[reason.code],
    )


def read_profile(
    c: Container, staff: StaffIdentity, *, subject_id: str, reason: Reason
) -> SubjectProfile:
    """A subject's profile for a stated reason; the read is audited before it is returned."""
    permit(c, staff, Action.READ_SUBJECT_DATA, object=audited_id("subject", subject_id))
    with c.uow() as uow:
        if not is_id(subject_id) or not accounts.account_exists(uow.session, subject_id):
            raise NotFound("subject")
        _audit_read(uow, staff, subject_id, "profile", reason)
        profile = accounts.get_profile(c, user_id=subject_id)
        uow.commit()
    return SubjectProfile(
        id=profile.id,
        name=profile.name,
        email=profile.email,
        username=profile.username,
        created_at=profile.created_at,
        reason=reason.code.value,
        reference=reason.reference,
    )


def read_request_details(
    c: Container, staff: StaffIdentity, *, request_id: str, reason: Reason
) -> RequestDetails:
    """A request's details and evidence for a stated reason, audited against its subject."""
    permit(c, staff, Action.READ_SUBJECT_DATA, object=audited_id("request", request_id))
    with c.uow() as uow:
        row = lifecycle.find(uow, request_id)
        details = intake.open_details(uow, row)
        evidence = intake.open_sealed(uow, row, "request-evidence", row.evidence_enc)
        _audit_read(uow, staff, row.subject_id, f"request:{row.id}", reason)
        uow.commit()
        return RequestDetails(
            id=row.id,
            subject_id=row.subject_id,
            details=details,
            evidence=evidence,
            reason=reason.code.value,
            reference=reason.reference,
        )
