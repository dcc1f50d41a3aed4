"""The staff second factor: TOTP (RFC 6238) with replay refusal, and single-use recovery codes.

A staff password alone opens only an enrolment session (policy 5.1, 11.2): whoever holds
it can reach subjects' data only with the authenticator too. The TOTP secret is sealed under a
service key (AES-256-GCM, bound to the staff id) and never logged; recovery codes are shown
once and kept only as argon2 hashes. A code is good once: its time step, once accepted, and
every earlier one are refused, so a code seen over a shoulder or in a proxy log is spent.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, select, update

from minimaker.accounts import passwords
from minimaker.adapters.crypto.fields import open_field, seal_field
from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict, InvalidCredentials, ValidationFailed
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.staff import events
from minimaker.staff.tables import StaffMember, StaffRecoveryCode, StaffSession

STEP_S = 30  # RFC 6238's default time step; what every authenticator app uses
DIGITS = 6
#: Steps either side of now still accepted: one, for clocks a little apart (RFC 6238 5.2).
DRIFT_STEPS = 1
RECOVERY_CODES = 10
ISSUER = "MiniMaker staff"
_SEAL_KEY = "staff_totp_sealing"  # the name of a keyring secret, not a secret
_FIELD = "staff-totp-secret"
TOTP_PATTERN = re.compile(r"[0-9]{6}")
#: Ten base32 letters in two groups: 50 bits, beyond guessing under the sign-in throttle.
RECOVERY_PATTERN = re.compile(r"[a-z2-7]{5}-[a-z2-7]{5}")
_MAX_CODE = 32


class SecondFactorFailed(InvalidCredentials):
    """The authenticator code or recovery code was missing, wrong, malformed or replayed."""

    code = "second_factor_failed"

    def default_message(self) -> str:
        return "the authenticator code or recovery code is missing, wrong or already used"


@dataclass(frozen=True)
class Enrolment:
    """What the staff member puts into an authenticator app: the secret, its URI, its QR."""

    secret: str
    uri: str
    qr_svg: str


def totp_step(at: datetime, step_s: int = STEP_S) -> int:
    """The RFC 6238 time-step counter T = floor(unix time / X) of a moment."""
    return int(at.timestamp()) // step_s


def matching_step(
    secret: str,
    code: str,
    *,
    now: datetime,
    last_step: int | None,
    digits: int = DIGITS,
    digest: str = "sha1",
) -> int | None:
    """The time step within the drift window whose code `code` is, if newer than `last_step`."""
    totp = pyotp.TOTP(secret, digits=digits, digest=digest, interval=STEP_S)
    current = totp_step(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue  # a replay: this step (or a later one) was already accepted
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            return step
    return None


def normalised(code: object) -> str | None:
    """A submitted code without spaces and in lower case; None if it cannot be a code."""
    if not isinstance(code, str) or len(code) > _MAX_CODE:
        return None
    text = code.replace(" ", "").strip().lower()
    return text if TOTP_PATTERN.fullmatch(text) or RECOVERY_PATTERN.fullmatch(text) else None


def _key(c: Container) -> bytes:
    return c.secret(_SEAL_KEY)


def _secret_of(c: Container, row: StaffMember) -> str | None:
    if row.totp_secret_enc is None:
        return None
    return open_field(_key(c), subject_id=row.id, field=_FIELD, sealed=row.totp_secret_enc)


def begin(c: Container, *, staff_id: str, username: str) -> Enrolment:
    """A fresh secret for a staff member not yet enrolled, sealed; replaces an unconfirmed one."""
    secret = pyotp.random_base32()
    with c.uow() as uow:
        row = uow.session.get(StaffMember, staff_id)
        if row is None or row.totp_confirmed_at is not None:
            raise Conflict("the second factor is already enrolled")
        row.totp_secret_enc = seal_field(_key(c), subject_id=row.id, field=_FIELD, value=secret)
        row.totp_last_step = None
        uow.audit(events.ENROLMENT_BEGUN, actor=Actor.staff(staff_id))
        uow.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return Enrolment(secret=secret, uri=uri, qr_svg=qr_svg(uri))


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code: no script, no style attribute, so the CSP holds."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, title="Authenticator QR code"))


def confirm(
    uow: UnitOfWork, row: StaffMember, *, code: object, session_id: str, now: datetime
) -> list[str] | None:
    """Enrol for good if `code` is the pending secret's; the recovery codes, else None."""
    secret = _secret_of(uow.c, row)
    if secret is None or row.totp_confirmed_at is not None:
        raise Conflict("no enrolment is pending; start it again")
    text = normalised(code)
    if text is None or not TOTP_PATTERN.fullmatch(text):
        raise ValidationFailed("code", "must be the 6 digits the authenticator shows")
    step = matching_step(secret, text, now=now, last_step=row.totp_last_step)
    if step is None:
        return None
    row.totp_confirmed_at, row.totp_last_step = now, step
    codes = _new_recovery_codes(uow, row.id, now)
    # The session that proved the factor may now do what the role allows.
    uow.session.execute(
        update(StaffSession).where(StaffSession.id == session_id).values(stage="full")
    )
    uow.audit(events.SECOND_FACTOR_ENROLLED, actor=Actor.staff(row.id))
    return codes


def _new_recovery_codes(uow: UnitOfWork, staff_id: str, now: datetime) -> list[str]:
    uow.session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff_id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        digest = passwords.hash_password(uow.c.settings, code)
        uow.session.add(
            StaffRecoveryCode(
                id=uuid.uuid4().hex, staff_id=staff_id, code_hash=digest, created_at=now
            )
        )
    return codes


def _recovery_code() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    letters = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{letters[:5]}-{letters[5:]}"


def accept(uow: UnitOfWork, row: StaffMember, code: object, now: datetime) -> bool:
    """Whether `code` proves the factor of an enrolled member; spends it (step or recovery)."""
    text = normalised(code)
    secret = _secret_of(uow.c, row)
    if text is None or secret is None:
        return False
    if TOTP_PATTERN.fullmatch(text):
        step = matching_step(secret, text, now=now, last_step=row.totp_last_step)
        if step is None:
            return False
        row.totp_last_step = step
        return True
    return _spend_recovery_code(uow, row.id, text, now)


def _spend_recovery_code(uow: UnitOfWork, staff_id: str, text: str, now: datetime) -> bool:
    unused = uow.session.scalars(
        select(StaffRecoveryCode).where(
            StaffRecoveryCode.staff_id == staff_id, StaffRecoveryCode.used_at.is_(None)
        )
    )
    for stored in unused:
        if passwords.password_ok(uow.c.settings, stored.code_hash, text):
            stored.used_at = now
            left = _unused_count(uow, staff_id)
            uow.audit(
                events.RECOVERY_CODE_USED,
                actor=Actor.staff(staff_id),
                object=f"recovery_code:{stored.id}:left:{left}",
            )
            return True
    return False


def _unused_count(uow: UnitOfWork, staff_id: str) -> int:
    uow.session.flush()
    rows = uow.session.scalars(
        select(StaffRecoveryCode.id).where(
            StaffRecoveryCode.staff_id == staff_id, StaffRecoveryCode.used_at.is_(None)
        )
    )
    return len(list(rows))
