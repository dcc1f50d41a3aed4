"""Staff API: staff sign-in, the request queue and the DPO's decisions, staff accounts.

Staff tokens come from `/api/v1/admin/auth/token`; a user's token is refused here, and a staff
token is refused on every user route. Each role may do what staff/rules.py allows.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from minimaker.accounts import rules as account_rules
from minimaker.entrypoints.http import (
    ClientIp,
    ContainerDep,
    PasswordForm,
    Staff,
    StaffToken,
    TokenOut,
    stated,
)
from minimaker.rights import decisions as staff_queue
from minimaker.rights.read_model import StaffRequestView
from minimaker.rights.rules import RequestType
from minimaker.staff import service as staff
from minimaker.staff import subject_access, training
from minimaker.staff.rules import (
    MAX_REFERENCE,
    REFERENCE_PATTERN,
    ReasonCode,
    Role,
    missing_clearance,
    parse_reason,
)
from minimaker.staff.service import Enrolling

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def enrolling_staff(c: ContainerDep, token: StaffToken) -> Enrolling:
    """The staff member of a live enrolment-only session (the password, no second factor)."""
    return staff.authenticate_enrolling(c, token)


EnrollingStaff = Annotated[Enrolling, Depends(enrolling_staff)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ExtendIn(_In):
    months: int
    reason: str = Field(min_length=1, max_length=2000)


class RejectIn(_In):
    reason: str = Field(max_length=2000)


class PauseIn(_In):
    note: str = Field(min_length=1, max_length=255)


class RecordIn(_In):
    email: str = stated(account_rules.EMAIL_PATTERN, account_rules.MAX_EMAIL)
    type: Annotated[RequestType, Field(strict=False)]  # its value, as JSON carries it
    details: dict[str, Any] | None = None
    #: DPO only: how the person's identity was checked; verifies the request at once.
    evidence: str | None = Field(default=None, min_length=10, max_length=2000)


class RecordedOut(BaseModel):
    """The same answer whether or not the address is registered."""

    status: str
    message: str


class CompleteIn(_In):
    statement: str = Field(min_length=10, max_length=2000)


class ClosedOut(BaseModel):
    items: list[StaffRequestView]
    page: int
    per_page: int
    total: int
    has_next: bool


class StaffIn(_In):
    username: str = stated(account_rules.USERNAME_PATTERN, 32, min_length=3)
    password: str = stated(None, account_rules.MAX_PASSWORD, min_length=account_rules.MIN_PASSWORD)
    role: Annotated[Role, Field(strict=False)]
    #: Required for a contractor, refused for any other role: the end of the fixed term.
    access_expires: Annotated[AwareDatetime | None, Field(strict=False)] = None


class GrantIn(_In):
    role: Annotated[Role | None, Field(strict=False)] = None
    access_expires: Annotated[AwareDatetime | None, Field(strict=False)] = None


class TrainingIn(_In):
    trained_at: Annotated[AwareDatetime | None, Field(strict=False)] = None
    valid_days: int = Field(default=training.DEFAULT_TRAINING_DAYS, ge=1, le=3 * 366)


class AcknowledgeIn(_In):
    version: str = Field(min_length=1, max_length=64)


class ConfirmIn(_In):
    code: str = Field(min_length=1, max_length=32)


class StaffTokenOut(TokenOut):
    """`stage` "enrol": the token may only enrol the second factor (`/auth/enrolment`)."""

    stage: str


class EnrolmentOut(BaseModel):
    """Put into an authenticator app: the otpauth URI (or the secret by hand)."""

    secret: str
    otpauth_uri: str


class RecoveryCodesOut(BaseModel):
    """Shown this once: each code signs in once in place of an authenticator code."""

    recovery_codes: list[str]


class SubjectOut(BaseModel):
    id: str
    name: str
    email: str
    username: str
    created_at: datetime
    reason: str
    reference: str | None


class RequestDetailsOut(BaseModel):
    id: str
    subject_id: str
    details: dict[str, Any]
    evidence: str | None
    reason: str
    reference: str | None


class StaffRequestOut(StaffRequestView):
    """A request as staff read it: the fields of `read_model.StaffRequestView`."""


class StaffOut(BaseModel):
    id: str
    username: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    access_expires_at: datetime | None
    trained_at: datetime | None
    training_expires_at: datetime | None
    policy_version: str | None
    second_factor: bool


class MeOut(BaseModel):
    id: str
    role: str
    trained_until: datetime | None
    acknowledged: str | None
    current_policy_version: str
    #: What personal data still needs (training, the policy acknowledged); empty: cleared.
    missing_for_personal_data: list[str]


ReasonQuery = Annotated[ReasonCode, Query()]
ReferenceQuery = Annotated[
    str | None, Query(max_length=MAX_REFERENCE, pattern=REFERENCE_PATTERN.pattern)
]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Already enrolled, or no enrolment pending."}
}


@router.post("/auth/token", response_model=StaffTokenOut, tags=["auth"])
def token(
    c: ContainerDep,
    form: PasswordForm,
    ip: ClientIp,
    code: Annotated[str | None, Form(max_length=32)] = None,
) -> StaffTokenOut:
    """Staff sign-in: username, password and `code` (the authenticator's 6 digits, or a
    recovery code). Without an enrolled second factor, the token (stage "enrol") may only
    enrol one."""
    issued = staff.login(c, username=form.username, password=form.password, client_ip=ip, code=code)
    return StaffTokenOut(
        access_token=issued.token, expires_at=issued.expires_at, stage=issued.stage
    )


@router.post("/auth/enrolment", response_model=EnrolmentOut, tags=["auth"], responses=_CONFLICT)
def begin_enrolment(c: ContainerDep, who: EnrollingStaff) -> EnrolmentOut:
    """With an enrolment token: a fresh TOTP secret and its otpauth URI for the authenticator."""
    found = staff.begin_enrolment(c, who=who)
    return EnrolmentOut(secret=found.secret, otpauth_uri=found.uri)


@router.post(
    "/auth/enrolment/confirm", response_model=RecoveryCodesOut, tags=["auth"], responses=_CONFLICT
)
def confirm_enrolment(
    c: ContainerDep, who: EnrollingStaff, body: ConfirmIn, ip: ClientIp
) -> RecoveryCodesOut:
    """Confirm with a code from the authenticator: the token becomes a full staff token and
    the recovery codes are returned, this once."""
    codes = staff.confirm_enrolment(c, who=who, code=body.code, client_ip=ip)
    return RecoveryCodesOut(recovery_codes=codes)


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(c: ContainerDep, who: Staff, tok: StaffToken) -> Response:
    """End the staff session of this bearer token."""
    staff.logout(c, staff=who, token=tok)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
def me(c: ContainerDep, who: Staff) -> Any:
    """Your staff id and role, your training and policy acknowledgement, what is missing."""
    missing = missing_clearance(
        trained_until=who.trained_until,
        acknowledged=who.acknowledged,
        policy_version=c.policy.version,
        now=c.clock.now(),
    )
    return {
        **asdict(who),
        "current_policy_version": c.policy.version,
        "missing_for_personal_data": missing,
    }


@router.post("/me/acknowledge-policy", response_model=StaffOut)
def acknowledge_policy(c: ContainerDep, who: Staff, body: AcknowledgeIn) -> Any:
    """Acknowledge the policy in force; `version` must be its current version."""
    return asdict(training.acknowledge_policy(c, staff=who, version=body.version))


@router.get("/subjects/{subject_id}", response_model=SubjectOut)
def read_subject(
    c: ContainerDep,
    who: Staff,
    subject_id: str,
    reason: ReasonQuery,
    reference: ReferenceQuery = None,
) -> Any:
    """A subject's account profile, for a `reason` (handling_request, user_support,
    security_incident, legal_claim) and an optional ticket `reference`; audited."""
    stated_reason = parse_reason(reason, reference)
    found = subject_access.read_profile(c, who, subject_id=subject_id, reason=stated_reason)
    return asdict(found)


@router.get("/requests", response_model=list[StaffRequestOut])
def list_requests(
    c: ContainerDep,
    who: Staff,
    overdue: bool = False,
    due_within_days: Annotated[int | None, Query(ge=0, le=366)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    needs_officer: bool = False,
) -> Any:
    """Open requests, soonest due first, each with its overdue flag and days left;
    `needs_officer`: only those whose automatic fulfilment failed, with the reason."""
    found = staff_queue.queue(
        c,
        who,
        overdue=overdue,
        due_within_days=due_within_days,
        status=status,
        needs_officer=needs_officer,
    )
    return [asdict(r) for r in found]


@router.post("/requests", status_code=202, response_model=RecordedOut)
def record_request(c: ContainerDep, who: Staff, body: RecordIn) -> Any:
    """Record a request received by email or post on the subject's behalf.

    The subject confirms it by a link to the address on file, unless a DPO gives the evidence
    of identity; erasure and rectification need the DPO. The same answer for every address."""
    return staff_queue.record(c, who, **body.model_dump())


@router.get("/requests/closed", response_model=ClosedOut)
def closed_requests(
    c: ContainerDep,
    who: Staff,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=staff_queue.MAX_PER_PAGE)] = 25,
) -> Any:
    """Completed and refused requests, most recently closed first, one page at a time."""
    found = staff_queue.closed(c, who, page=page, per_page=per_page)
    return {**asdict(found), "has_next": found.has_next}


@router.get("/requests/{request_id}", response_model=StaffRequestOut)
def get_request(c: ContainerDep, who: Staff, request_id: str) -> Any:
    """One request with its history (metadata only, never the subject's profile)."""
    return asdict(staff_queue.get_request(c, who, request_id=request_id))


@router.get("/requests/{request_id}/details", response_model=RequestDetailsOut)
def request_details(
    c: ContainerDep,
    who: Staff,
    request_id: str,
    reason: ReasonQuery,
    reference: ReferenceQuery = None,
) -> Any:
    """A request's details and evidence of identity, for a stated `reason`; audited."""
    stated_reason = parse_reason(reason, reference)
    found = subject_access.read_request_details(c, who, request_id=request_id, reason=stated_reason)
    return asdict(found)


@router.post("/requests/{request_id}/extend", response_model=StaffRequestOut)
def extend_request(c: ContainerDep, who: Staff, request_id: str, body: ExtendIn) -> Any:
    """DPO: extend once by one or two months before the original due date; the subject is told."""
    return asdict(staff_queue.extend(c, who, request_id=request_id, **body.model_dump()))


@router.post("/requests/{request_id}/reject", response_model=StaffRequestOut)
def reject_request(c: ContainerDep, who: Staff, request_id: str, body: RejectIn) -> Any:
    """DPO: refuse with a justification; the subject is told, with the right to complain."""
    return asdict(staff_queue.reject(c, who, request_id=request_id, reason=body.reason))


@router.post("/requests/{request_id}/complete", response_model=StaffRequestOut)
def complete_request(c: ContainerDep, who: Staff, request_id: str, body: CompleteIn) -> Any:
    """DPO: complete by hand a request whose fulfilment failed; the subject is told what."""
    return asdict(staff_queue.complete(c, who, request_id=request_id, statement=body.statement))


@router.post("/requests/{request_id}/pause", response_model=StaffRequestOut)
def pause_request(c: ContainerDep, who: Staff, request_id: str, body: PauseIn) -> Any:
    """DPO: wait on the subject (the legal clock stops); the note says what for."""
    return asdict(staff_queue.pause(c, who, request_id=request_id, note=body.note))


@router.post("/requests/{request_id}/resume", response_model=StaffRequestOut)
def resume_request(c: ContainerDep, who: Staff, request_id: str) -> Any:
    """DPO: the subject answered; the clock runs again and fulfilment is queued."""
    return asdict(staff_queue.resume(c, who, request_id=request_id))


@router.get("/staff", response_model=list[StaffOut])
def list_staff(c: ContainerDep, who: Staff) -> Any:
    """Admin: every staff account."""
    return [asdict(s) for s in staff.list_staff(c, by=who)]


@router.post("/staff", status_code=201, response_model=StaffOut)
def create_staff(c: ContainerDep, who: Staff, body: StaffIn) -> Any:
    """Admin: a new staff account with one role; a contractor's with `access_expires`."""
    return asdict(staff.create_staff(c, by=who, **body.model_dump()))


@router.post(
    "/staff/{staff_id}/grant",
    response_model=StaffOut,
    responses={409: {"description": "You cannot change your own role."}},
)
def grant(c: ContainerDep, who: Staff, staff_id: str, body: GrantIn) -> Any:
    """Admin: change a member's role and/or a contractor's end of term."""
    return asdict(training.grant(c, by=who, staff_id=staff_id, **body.model_dump()))


@router.post("/staff/{staff_id}/training", response_model=StaffOut)
def record_training(c: ContainerDep, who: Staff, staff_id: str, body: TrainingIn) -> Any:
    """Admin: record a member's data-protection training, current for `valid_days`."""
    return asdict(training.record_training(c, by=who, staff_id=staff_id, **body.model_dump()))


@router.post("/staff/{staff_id}/disable", response_model=StaffOut)
def disable_staff(c: ContainerDep, who: Staff, staff_id: str) -> Any:
    """Admin: disable an account; its sessions end at once."""
    return asdict(staff.disable_staff(c, by=who, staff_id=staff_id))
