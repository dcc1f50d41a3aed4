"""Staff recording a request received by email or post, on a subject's behalf (policy 5.1, 13).

Whoever records it, the subject proves the request is theirs: it stays unverified and the
confirmation link goes to the address on file (`public_intake.open_unverified`), unless the
privacy officer records the evidence of identity they checked (sealed like the request's
details, never in the audit), which verifies it at once. Requests whose details would destroy
or replace the subject's data (erasure, a correction) need the officer's role. The answer is
the same, and takes about as long, whether or not the address is registered: recording is no
way to learn who has an account.
"""

from __future__ import annotations

import json
import time
from typing import Any

from minimaker.accounts import rules as account_rules
from minimaker.accounts import service as accounts
from minimaker.adapters.crypto.fields import seal_field
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ValidationFailed
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import lifecycle
from minimaker.rights.intake import MAX_DETAILS_CHARS, checked_details, create_request
from minimaker.rights.public_intake import MIN_DURATION_S, open_unverified
from minimaker.rights.rules import RequestType, parse_type
from minimaker.staff import events as staff_events
from minimaker.staff.rules import Action
from minimaker.staff.service import StaffIdentity, permit

#: Only the officer records these: what staff type in would erase or replace the data.
DESTRUCTIVE = frozenset({RequestType.ERASURE, RequestType.RECTIFICATION})
#: The profile fields a recorded correction may name.
CORRECTABLE = ("name", "email", "username")
MAX_EVIDENCE = 2000
#: The one answer to every well-formed recording, registered address or not.
RECORDED = {
    "status": "recorded",
    "message": "If the address is registered, the request was recorded: verified at once when "
    "the privacy officer recorded the evidence of identity, otherwise the person was sent a "
    "link to confirm it at the address on file.",
}


def record(
    c: Container,
    staff: StaffIdentity,
    *,
    email: object,
    type: object,
    details: dict[str, Any] | None = None,
    evidence: str | None = None,
    min_duration_s: float = MIN_DURATION_S,
) -> dict[str, str]:
    """Record a request for the subject of an address; the answer never tells if there is one."""
    permit(c, staff, Action.RECORD_REQUEST)
    kind = parse_type(type)
    if kind in DESTRUCTIVE:
        permit(c, staff, Action.RECORD_DESTRUCTIVE_REQUEST, object=f"request-type:{kind.value}")
    proof = _evidence(evidence)
    if proof is not None:
        permit(c, staff, Action.VERIFY_IDENTITY)
    if not isinstance(email, str):
        raise ValidationFailed("email", "is not a valid email address")
    address = account_rules.clean_email(email)
    # Every check of the input comes before the lookup, so a refusal cannot depend on it.
    checked = _details(c, kind, details)
    started = time.monotonic()
    try:
        _record(c, staff, address=address, kind=kind, details=checked, proof=proof)
    finally:
        time.sleep(max(0.0, min_duration_s - (time.monotonic() - started)))
    return dict(RECORDED)


def _evidence(evidence: str | None) -> str | None:
    if evidence is None:
        return None
    if not isinstance(evidence, str) or len(evidence.strip()) < 10:
        raise ValidationFailed("evidence", "say how the identity was checked (10+ characters)")
    if len(evidence) > MAX_EVIDENCE:
        raise ValidationFailed("evidence", f"must be at most {MAX_EVIDENCE} characters")
    return evidence.strip()


def _details(c: Container, kind: RequestType, details: object) -> dict[str, Any] | None:
    checked = checked_details(details)
    if checked and len(json.dumps(checked, sort_keys=True)) > MAX_DETAILS_CHARS:
        raise ValidationFailed("details", f"must be at most {MAX_DETAILS_CHARS} characters of JSON")
    if kind is RequestType.RECTIFICATION:
        fields = {k: v for k, v in (checked or {}).items() if k in CORRECTABLE}
        if not fields or set(checked or {}) - set(CORRECTABLE):
            raise ValidationFailed("details", "name, email or username to correct is required")
        if not all(isinstance(v, str) for v in fields.values()):
            raise ValidationFailed("details", "each corrected field is text")
        accounts.prepare_correction(c, **fields)  # the new values are valid, or 422 now
    return checked


def _record(
    c: Container,
    staff: StaffIdentity,
    *,
    address: str,
    kind: RequestType,
    details: dict[str, Any] | None,
    proof: str | None,
) -> None:
    index_key = c.secret("blind_index")
    with c.uow() as uow:
        subject_id = accounts.subject_by_email(uow.session, index_key=index_key, email=address)
        if subject_id is not None:
            _for_subject(uow, staff, subject_id, kind=kind, details=details, proof=proof)
        uow.commit()


def _for_subject(
    uow: UnitOfWork,
    staff: StaffIdentity,
    subject_id: str,
    *,
    kind: RequestType,
    details: dict[str, Any] | None,
    proof: str | None,
) -> None:
    if proof is None:
        row = open_unverified(
            uow,
            subject_id=subject_id,
            kind=kind,
            channel="staff",
            actor=staff.actor,
            details=details,
            recorded_by=staff.id,
        )
    else:
        row = create_request(
            uow,
            subject_id=subject_id,
            type=kind,
            details=details,
            channel="staff",
            actor=staff.actor,
            verified=True,
            recorded_by=staff.id,
        )
        # Art. 12(6): the officer vouches for the person; what they checked is kept, sealed.
        dek = uow.keys.subject_key(subject_id)
        row.evidence_enc = seal_field(
            dek, subject_id=subject_id, field="request-evidence", value=proof
        )
    lifecycle.audit(uow, row, staff_events.REQUEST["recorded"], actor=staff.actor)
