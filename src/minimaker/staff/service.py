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
from minimaker.accounts.service import IssuedToken
from minimaker.adapters import tokens
from minimaker.kernel.actors import SYSTEM_AUTH, SYSTEM_CLI, Actor
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
from minimaker.staff import events
from minimaker.staff.rules import Action, StaffForbidden, allows, parse_role
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


@dataclass(frozen=True)
class StaffIdentity:
    """Who a live staff token stands for, with the role they hold right now."""

    id: str
    role: str

    @property
    def actor(self) -> Actor:
        """The staff member as the audit names them."""
        return Actor.staff(self.id)


def _read(row: StaffMember) -> StaffRead:
    return StaffRead(row.id, row.username, row.role, row.created_at, row.disabled_at)


def permit(
    c: Container, staff: StaffIdentity, action: Action, *, object: str | None = None
) -> None:
    """Refuse (and audit the refusal) unless the staff member's role allows `action`."""
    if allows(staff.role, action):
        return
    with c.uow() as uow:
        refused = (object or f"action:{action.value}")[:128]
        uow.audit(events.ACCESS_DENIED, actor=staff.actor, object=refused)
        uow.commit()
    raise StaffForbidden(staff.role, action.value)


def _operator(c: Container, by: StaffIdentity | None) -> Actor:
    # None is the operator at the command line, who holds the database itself.
    if by is None:
        return SYSTEM_CLI
    permit(c, by, Action.MANAGE_STAFF)
    return by.actor


def create_staff(
    c: Container, *, by: StaffIdentity | None, username: str, password: str, role: str
) -> StaffRead:
    """A new staff account with one role; by an admin, or by the operator (`by=None`)."""
    actor = _operator(c, by)
    kind = parse_role(role)
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
        )
        uow.session.add(row)
        uow.audit(events.MEMBER_CREATED, actor=actor, object=f"staff:{row.id}:{kind.value}")
        uow.commit()
        return _read(row)


def list_staff(c: Container, *, by: StaffIdentity | None) -> list[StaffRead]:
    """Every staff account, oldest first."""
    _operator(c, by)
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(select(StaffMember).order_by(StaffMember.created_at))
        return [_read(r) for r in rows]


def disable_staff(c: Container, *, by: StaffIdentity | None, staff_id: str) -> StaffRead:
    """Disable an account and end its sessions at once; the row stays for the audit trail."""
    actor = _operator(c, by)
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
        return _read(row)


#: The staff address counter: its own, so users' failures never slow staff, nor the reverse.
_STAFF_ADDRESS = "staff-throttle-ip"


def login(c: Container, *, username: str, password: str, client_ip: str) -> IssuedToken:
    """Check a staff password under the users' throttles and open a staff session.

    Per account a backoff, per address a limit on accounts that have failures of their own
    (accounts/throttle.py): attackers of one staff member never lock out another signing in
    from the same office address.
    """
    now = c.clock.now()
    index_key, token_key = c.secret("blind_index"), c.secret(_TOKEN_KEY)
    name = rules.username_key(username)
    with c.uow() as uow:
        row = uow.session.scalar(select(StaffMember).where(StaffMember.username == name))
        # Keyed counters under staff names of their own; a name no staff has counts apart.
        account = f"staff:{row.id}" if row is not None else f"staff-name:{name}"
        attempt = throttle.Attempt(
            throttle.account_key(index_key, account),
            throttle.address_key(index_key, client_ip, field=_STAFF_ADDRESS),
            None,
        )
        throttle.prune(c, uow, now)
        wait = throttle.sign_in_wait(c, uow, attempt, now)
        if wait is not None:
            uow.commit()  # keep the pruning of expired counters; the refusal adds nothing
            raise TooManyAttempts(wait)
        stored = row.password_hash if row is not None and row.disabled_at is None else None
        if not passwords.password_ok(c.settings, stored, password):
            throttle.record_failure(uow, attempt, now)
            who = f"staff:{row.id}" if row else None
            uow.audit(events.LOGIN_FAILED, actor=SYSTEM_AUTH, object=who)
            uow.commit()
            raise InvalidCredentials()
        assert row is not None
        throttle.record_success(uow, attempt)
        issued = _open_session(c, uow, row.id, now, token_key)
        uow.audit(events.SESSION_CREATED, actor=Actor.staff(row.id))
        uow.commit()
    return issued


def _open_session(
    c: Container, uow: UnitOfWork, staff_id: str, now: datetime, key: bytes
) -> IssuedToken:
    session_id = uuid.uuid4().hex
    expires = now + timedelta(seconds=c.settings.token_ttl_s)
    uow.session.add(
        StaffSession(id=session_id, staff_id=staff_id, created_at=now, expires_at=expires)
    )
    token = tokens.issue(
        key, sub=staff_id, sid=session_id, now=now, expires=expires, audience=AUDIENCE
    )
    return IssuedToken(token=token, session_id=session_id, expires_at=expires)


def authenticate(c: Container, token: str) -> StaffIdentity:
    """The staff member a staff token stands for, if its session and account are live."""
    now = c.clock.now()
    key = c.secret(_TOKEN_KEY)
    claims = tokens.decode(key, token, now=now, audience=AUDIENCE, what="staff token")
    with c.sessions() as session:
        found = session.execute(
            select(StaffMember.id, StaffMember.role)
            .join(StaffSession, StaffSession.staff_id == StaffMember.id)
            .where(
                StaffSession.id == str(claims["sid"]),
                StaffSession.expires_at > now,
                StaffMember.disabled_at.is_(None),
            )
        ).one_or_none()
    if found is None or found.id != claims["sub"]:
        raise NotAuthenticated("the staff session has ended; sign in again")
    return StaffIdentity(id=found.id, role=found.role)


def logout(c: Container, *, staff: StaffIdentity, token: str) -> None:
    """End the staff session a token belongs to."""
    sid = tokens.session_of(token)
    with c.uow() as uow:
        uow.session.execute(
            delete(StaffSession).where(StaffSession.id == sid, StaffSession.staff_id == staff.id)
        )
        uow.audit(events.SESSION_ENDED, actor=staff.actor)
        uow.commit()
