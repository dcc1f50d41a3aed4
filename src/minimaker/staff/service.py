"""Staff accounts: create, list, disable; sign-in (rate-limited) and staff sessions.

Staff tokens are signed with their own key and carry their own audience, and their sessions
live in their own table: a user's token can never act as a staff token, nor the reverse.
A staff member's role is read from the database on every request, so disabling an account or
changing a role takes effect at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from minimaker.accounts import passwords, rules, throttle
from minimaker.adapters import tokens
from minimaker.kernel.actors import SYSTEM_AUTH, SYSTEM_CLI, Actor
from minimaker.kernel.actors import StaffIdentity as StaffIdentity  # re-exported: staff's value
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.container import Container
from minimaker.kernel.errors import (
    AlreadyTaken,
    Conflict,
    InvalidCredentials,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)
from minimaker.kernel.ids import is_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.staff import events, second_factor
from minimaker.staff.rules import (
    PERSONAL_DATA,
    AccessExpired,
    Action,
    NotCleared,
    StaffForbidden,
    allows,
    check_access_expiry,
    expired,
    missing_clearance,
    parse_role,
)
from minimaker.staff.tables import StaffMember, StaffSession

_TOKEN_KEY = "staff_token_signing"  # noqa: S105 - the name of a keyring secret, not a secret
#: The audience of staff tokens; user tokens carry none, so each side refuses the other's.
AUDIENCE = "minimaker:staff"


@dataclass(frozen=True)
class StaffRead:
    id: str
    username: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    access_expires_at: datetime | None = None
    trained_at: datetime | None = None
    training_expires_at: datetime | None = None
    policy_version: str | None = None
    second_factor: bool = False


@dataclass(frozen=True)
class StaffToken:
    """A staff session opened by sign-in; `stage` "enrol" may only enrol the second factor."""

    token: str
    session_id: str
    expires_at: datetime
    stage: str = "full"


def staff_read(row: StaffMember) -> StaffRead:
    """A staff row as the API and CLI show it (never the password hash or the secret)."""
    return StaffRead(
        row.id,
        row.username,
        row.role,
        row.created_at,
        row.disabled_at,
        row.access_expires_at,
        row.trained_at,
        row.training_expires_at,
        row.policy_version,
        row.totp_confirmed_at is not None,
    )


def _refuse(c: Container, staff: StaffIdentity, action: Action, object: str | None) -> None:
    with c.uow() as uow:
        refused = (object or f"action:{action.value}")[:128]
        uow.audit(events.ACCESS_DENIED, actor=staff.actor, object=refused)
        uow.commit()


def permit(
    c: Container, staff: StaffIdentity, action: Action, *, object: str | None = None
) -> None:
    """Refuse (and audit the refusal) unless the role allows `action` and, for personal data,
    the member's training is current and the policy in force acknowledged."""
    if not allows(staff.role, action):
        _refuse(c, staff, action, object)
        raise StaffForbidden(staff.role, action.value)
    if action not in PERSONAL_DATA:
        return
    missing = missing_clearance(
        trained_until=staff.trained_until,
        acknowledged=staff.acknowledged,
        policy_version=c.policy.version,
        now=c.clock.now(),
    )
    if missing:
        _refuse(c, staff, action, object)
        raise NotCleared(missing)


def acting_operator(c: Container, by: StaffIdentity | None) -> Actor:
    """Who manages staff: an admin (checked), or the operator at the command line (None)."""
    # None is the operator at the command line, who holds the database itself.
    if by is None:
        return SYSTEM_CLI
    permit(c, by, Action.MANAGE_STAFF)
    return by.actor


def create_staff(
    c: Container,
    *,
    by: StaffIdentity | None,
    username: str,
    password: str,
    role: str,
    access_expires: datetime | None = None,
) -> StaffRead:
    """A new staff account with one role (a contractor's with the end of its term); by an
    admin, or by the operator (`by=None`). No second factor, training or policy yet."""
    actor = acting_operator(c, by)
    kind = parse_role(role)
    check_access_expiry(kind, access_expires, c.clock.now())
    name = rules.username_key(rules.clean_username(username))
    rules.check_password(password)
    pw_hash = passwords.hash_password(c.settings, password)
    with c.uow() as uow:
        if uow.session.scalar(select(StaffMember.id).where(StaffMember.username == name)):
            raise AlreadyTaken("username")
        row = StaffMember(
            id=uuid.uuid4().hex,
            username=name,
            password_hash=pw_hash,
            role=kind.value,
            created_at=c.clock.now(),
            disabled_at=None,
            access_expires_at=access_expires,
        )
        uow.session.add(row)
        uow.audit(events.MEMBER_CREATED, actor=actor, object=f"staff:{row.id}:{kind.value}")
        uow.commit()
        return staff_read(row)


def list_staff(c: Container, *, by: StaffIdentity | None) -> list[StaffRead]:
    """Every staff account, oldest first (by username among those made at the same time)."""
    acting_operator(c, by)
    with c.uow(write=False) as uow:
        order = (StaffMember.created_at, StaffMember.username)
        rows = uow.session.scalars(select(StaffMember).order_by(*order))
        return [staff_read(r) for r in rows]


def disable_staff(c: Container, *, by: StaffIdentity | None, staff_id: str) -> StaffRead:
    """Disable an account and end its sessions at once; the row stays for the audit trail."""
    actor = acting_operator(c, by)
    if by is not None and by.id == staff_id:
        raise Conflict("you cannot disable your own account")
    with c.uow() as uow:
        row = uow.session.get(StaffMember, staff_id) if is_id(staff_id) else None
        if row is None:
            raise NotFound("staff member")
        if row.disabled_at is None:
            row.disabled_at = c.clock.now()
        uow.session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
        uow.audit(events.MEMBER_DISABLED, actor=actor, object=f"staff:{staff_id}")
        uow.commit()
        return staff_read(row)


#: The staff address counter: its own, so users' failures never slow staff, nor the reverse.
_STAFF_ADDRESS = "staff-throttle-ip"


def _attempt(c: Container, row: StaffMember | None, name: str, client_ip: str) -> throttle.Attempt:
    index_key = c.secret("blind_index")
    # Keyed counters under staff names of their own; a name no staff has counts apart.
    account = f"staff:{row.id}" if row is not None else f"staff-name:{name}"
    return throttle.Attempt(
        throttle.account_key(index_key, account),
        throttle.address_key(index_key, client_ip, field=_STAFF_ADDRESS),
        None,
    )


def _wait(c: Container, uow: UnitOfWork, attempt: throttle.Attempt, now: datetime) -> None:
    throttle.prune(c, uow, now)
    wait = throttle.sign_in_wait(c, uow, attempt, now)
    if wait is not None:
        uow.commit()  # keep the pruning of expired counters; the refusal adds nothing
        raise TooManyAttempts(wait)


def login(
    c: Container, *, username: str, password: str, client_ip: str, code: object = None
) -> StaffToken:
    """Check a staff password and second factor under the users' throttles; open a session.

    Per account a backoff, per address a limit on accounts that have failures of their own
    (accounts/throttle.py): attackers of one staff member never lock out another signing in
    from the same office address. A wrong, missing or replayed code counts as a failure. A
    member with no second factor yet gets an enrolment-only session (policy 5.1).
    """
    now, token_key = c.clock.now(), c.secret(_TOKEN_KEY)
    name = rules.username_key(username)
    with c.uow() as uow:
        row = uow.session.scalar(select(StaffMember).where(StaffMember.username == name))
        attempt = _attempt(c, row, name, client_ip)
        _wait(c, uow, attempt, now)
        stored = row.password_hash if row is not None and row.disabled_at is None else None
        if not passwords.password_ok(c.settings, stored, password):
            _failed(uow, attempt, events.LOGIN_FAILED, row, now)
            raise InvalidCredentials()
        assert row is not None
        if expired(row.access_expires_at, now):
            uow.audit(events.LOGIN_FAILED, actor=SYSTEM_AUTH, object=f"staff:{row.id}:expired")
            uow.commit()
            raise AccessExpired()
        stage = "full" if row.totp_confirmed_at is not None else "enrol"
        if stage == "full" and not second_factor.accept(uow, row, code, now):
            _failed(uow, attempt, events.SECOND_FACTOR_FAILED, row, now)
            raise second_factor.SecondFactorFailed()
        throttle.record_success(uow, attempt)
        issued = _open_session(c, uow, row.id, now, token_key, stage)
        tag = events.SESSION_CREATED if stage == "full" else events.ENROLMENT_SESSION
        uow.audit(tag, actor=Actor.staff(row.id))
        uow.commit()
    return issued


def _failed(
    uow: UnitOfWork,
    attempt: throttle.Attempt,
    tag: AuditTag,
    row: StaffMember | None,
    now: datetime,
) -> None:
    """Count a failure on the throttles and audit it (by id only), in its own commit."""
    throttle.record_failure(uow, attempt, now)
    uow.audit(tag, actor=SYSTEM_AUTH, object=f"staff:{row.id}" if row else None)
    uow.commit()


def _open_session(
    c: Container, uow: UnitOfWork, staff_id: str, now: datetime, key: bytes, stage: str
) -> StaffToken:
    session_id = uuid.uuid4().hex
    expires = now + timedelta(seconds=c.settings.token_ttl_s)
    uow.session.add(
        StaffSession(
            id=session_id, staff_id=staff_id, created_at=now, expires_at=expires, stage=stage
        )
    )
    token = tokens.issue(
        key, sub=staff_id, sid=session_id, now=now, expires=expires, audience=AUDIENCE
    )
    return StaffToken(token=token, session_id=session_id, expires_at=expires, stage=stage)


def _live(c: Container, token: str) -> tuple[StaffMember, str, str]:
    """The member and session stage of a live staff token; (row, stage, session id)."""
    now = c.clock.now()
    claims = tokens.decode(
        c.secret(_TOKEN_KEY), token, now=now, audience=AUDIENCE, what="staff token"
    )
    with c.sessions() as session:
        found = session.execute(
            select(StaffMember, StaffSession.stage)
            .join(StaffSession, StaffSession.staff_id == StaffMember.id)
            .where(
                StaffSession.id == str(claims["sid"]),
                StaffSession.expires_at > now,
                StaffMember.disabled_at.is_(None),
            )
        ).one_or_none()
        if found is None or found[0].id != claims["sub"]:
            raise NotAuthenticated("the staff session has ended; sign in again")
        row, stage = found
        session.expunge(row)
    if expired(row.access_expires_at, now):
        raise AccessExpired()  # a contractor's term ends their open sessions too
    return row, stage, str(claims["sid"])


def authenticate(c: Container, token: str) -> StaffIdentity:
    """The staff member a staff token stands for, if its session and account are live and
    the session proved the second factor."""
    row, stage, _ = _live(c, token)
    if stage != "full":
        raise NotAuthenticated("enrol the second factor first: only enrolment is open")
    return StaffIdentity(
        id=row.id,
        role=row.role,
        trained_until=row.training_expires_at,
        acknowledged=row.policy_version,
    )


@dataclass(frozen=True)
class Enrolling:
    """A session opened by the password alone, for a member enrolling their second factor."""

    id: str
    username: str
    session_id: str


def authenticate_enrolling(c: Container, token: str) -> Enrolling:
    """The member of a live enrolment-only session; any other token is refused."""
    row, stage, sid = _live(c, token)
    if stage != "enrol":
        raise Conflict("the second factor is already enrolled")
    return Enrolling(id=row.id, username=row.username, session_id=sid)


def begin_enrolment(c: Container, *, who: Enrolling) -> second_factor.Enrolment:
    """A fresh TOTP secret for the enrolling member: its otpauth URI and QR code."""
    return second_factor.begin(c, staff_id=who.id, username=who.username)


def confirm_enrolment(c: Container, *, who: Enrolling, code: object, client_ip: str) -> list[str]:
    """Confirm with a code from the authenticator; the session becomes full and the recovery
    codes (shown this once) come back. A wrong code counts on the sign-in throttles."""
    now = c.clock.now()
    with c.uow() as uow:
        row = uow.session.get(StaffMember, who.id)
        assert row is not None  # the live session named it
        attempt = _attempt(c, row, row.username, client_ip)
        _wait(c, uow, attempt, now)
        codes = second_factor.confirm(uow, row, code=code, session_id=who.session_id, now=now)
        if codes is None:
            _failed(uow, attempt, events.SECOND_FACTOR_FAILED, row, now)
            raise second_factor.SecondFactorFailed()
        throttle.record_success(uow, attempt)
        uow.commit()
    return codes


def logout(c: Container, *, staff: StaffIdentity, token: str) -> None:
    """End the staff session a token belongs to."""
    sid = tokens.session_of(token)
    with c.uow() as uow:
        uow.session.execute(
            delete(StaffSession).where(StaffSession.id == sid, StaffSession.staff_id == staff.id)
        )
        uow.audit(events.SESSION_ENDED, actor=staff.actor)
        uow.commit()
