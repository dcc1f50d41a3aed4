"""Requests from people who cannot sign in (policy section 13): by email, confirmed by a link.

Anyone may ask on behalf of an address; only whoever controls the address on file can make
the request go ahead, by opening a single-use link we email there. The answer never tells
whether an address is registered, and takes about as long either way. Requests nobody
confirmed are closed by the `close_unconfirmed` duty in `deadlines.py`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from minimaker.accounts import rules
from minimaker.accounts import service as accounts
from minimaker.adapters.crypto.fields import blind_index
from minimaker.kernel.actors import SYSTEM_EMAIL_INTAKE, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import MiniMakerError, NotFound, TooManyAttempts, ValidationFailed
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.rights import lifecycle
from minimaker.rights.intake import create_request, seal_details
from minimaker.rights.read_model import RequestRead, request_read
from minimaker.rights.rules import RequestType, parse_type
from minimaker.rights.tables import RightsRequest, VerificationToken

#: The one answer to every well-formed public request, whether or not the address exists.
ACKNOWLEDGEMENT = {
    "status": "received",
    "message": "If the address is registered, we sent a link to confirm the request.",
}
#: Every public request takes at least this long, so the work done for a registered address
#: (a request, a token, a sealed email) cannot be told apart by timing from the lookup alone.
MIN_DURATION_S = 0.25
#: The shape of every emailed link's token: secrets.token_urlsafe(32), 256 random bits.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class VerificationLinkGone(MiniMakerError):
    """The link existed but can no longer be used: it expired or was used already."""

    status = 410
    code = "link_gone"

    def __init__(self, reason: str, *, link: str = "confirmation link") -> None:
        self.reason = reason
        super().__init__(f"this {link} {reason}; make the request again if needed")


@dataclass(frozen=True)
class PendingConfirmation:
    """What a confirmation page shows before the person confirms."""

    request_type: str
    expires_at: datetime
    #: A rectification that does not say yet what to correct: the page asks for it.
    asks_correction: bool = False


def request_by_email(
    c: Container,
    *,
    email: object,
    type: object,
    client_ip: str,
    min_duration_s: float = MIN_DURATION_S,
) -> dict[str, str]:
    """Take a request for an address; if it is registered, email a link to confirm it there."""
    started = time.monotonic()
    kind = parse_type(type)
    if not isinstance(email, str):
        raise ValidationFailed("email", "is not a valid email address")
    address = rules.clean_email(email)
    try:
        _take_request(c, address=address, kind=kind, client_ip=client_ip)
    finally:
        # Also on refusal (throttled): the pace of every answer is the same.
        time.sleep(max(0.0, min_duration_s - (time.monotonic() - started)))
    return dict(ACKNOWLEDGEMENT)


def _take_request(c: Container, *, address: str, kind: RequestType, client_ip: str) -> None:
    index_key = c.secret("blind_index")
    email_key = rules.email_key(address)
    # Throttle keys are keyed hashes under their own field names: apart from the login
    # counters that share the table, and nothing readable in it.
    throttle = [
        blind_index(index_key, field="throttle-public-ip", value=client_ip),
        blind_index(index_key, field="throttle-public-address", value=email_key),
    ]
    now = c.clock.now()
    with c.uow() as uow:
        wait = accounts.throttle_wait(c, uow, throttle, now)
        if wait is not None:
            uow.commit()  # keep the pruning of expired counters; the refusal adds nothing
            raise TooManyAttempts(wait)
        # Every ask counts, registered or not: the counters cannot tell the two apart.
        accounts.record_failures(uow, throttle, now)
        user_id = accounts.subject_by_email(uow.session, index_key=index_key, email=address)
        if user_id is not None:
            open_unverified(uow, subject_id=user_id, kind=kind)
        uow.commit()


def open_unverified(
    uow: UnitOfWork,
    *,
    subject_id: str,
    kind: RequestType,
    channel: str = "email",
    actor: Actor = SYSTEM_EMAIL_INTAKE,
    details: dict[str, Any] | None = None,
    recorded_by: str | None = None,
) -> RightsRequest:
    """A received (unverified) request, its token's hash, and the link to the address on file.

    Used for requests by email and for those staff record on someone's behalf: either way,
    only whoever controls the address on file can make the request go ahead."""
    row = create_request(
        uow,
        subject_id=subject_id,
        type=kind,
        details=details,
        channel=channel,
        actor=actor,
        verified=False,
        recorded_by=recorded_by,
    )
    _send_link(uow, row, kind)
    return row


def _send_link(uow: UnitOfWork, row: RightsRequest, kind: RequestType) -> None:
    """A single-use token's hash, and the link to it mailed to the address on file."""
    token = secrets.token_urlsafe(32)
    ttl = timedelta(seconds=uow.c.settings.verification_ttl_s)
    uow.session.add(
        VerificationToken(
            token_hash=digest(token), request_id=row.id, expires_at=uow.c.clock.now() + ttl
        )
    )
    link = f"{uow.c.settings.public_url.rstrip('/')}/api/v1/privacy/verify/{token}"
    hours = max(1, uow.c.settings.verification_ttl_s // 3600)
    # To the address on file, which the one typed matched by blind index: the stored one.
    outbox.queue_to_subject(
        uow,
        subject_id=row.subject_id,
        kind="request_verification",
        subject="Confirm your privacy request",
        body=(
            f"We received a {kind.value} request for the MiniMaker account of this address "
            f"(request {row.id}).\n\n"
            f"To confirm that it comes from you, open this link within {hours} hour(s) and "
            f"press the confirm button:\n\n{link}\n\n"
            "If you did not ask for this, ignore this email: nothing happens without your "
            "confirmation, and the link stops working on its own."
        ),
    )


def digest(token: str) -> str:
    """What is stored of an emailed link's token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _token_row(uow: UnitOfWork, token: str) -> VerificationToken:
    """The token's row if it can still be used; 404 unknown or malformed, 410 used or expired."""
    row = uow.session.get(VerificationToken, digest(token)) if TOKEN.fullmatch(token) else None
    if row is None:
        raise NotFound("confirmation link")
    if row.used_at is not None:
        raise VerificationLinkGone("was already used")
    if row.expires_at <= uow.c.clock.now():
        raise VerificationLinkGone("has expired")
    return row


def pending_confirmation(c: Container, *, token: str) -> PendingConfirmation:
    """What the link would confirm; reading it changes nothing."""
    with c.uow(write=False) as uow:
        row = _token_row(uow, token)
        request = uow.session.get(RightsRequest, row.request_id)
        if request is None:
            raise NotFound("confirmation link")
        return PendingConfirmation(request.type, row.expires_at, _asks_correction(request))


#: What an emailed rectification may correct, each checked as PATCH /me checks it.
CORRECTABLE: Mapping[str, Callable[[str], str]] = {
    "name": rules.clean_name,
    "email": rules.clean_email,
    "username": rules.clean_username,
}


def _asks_correction(request: RightsRequest) -> bool:
    return request.type == RequestType.RECTIFICATION.value and request.details_enc is None


def _correction(stated: Mapping[str, str] | None) -> dict[str, str]:
    """The corrections stated, cleaned by the account rules; a blank field corrects nothing."""
    given = {k: v for k, v in (stated or {}).items() if k in CORRECTABLE and v.strip()}
    fields = {k: CORRECTABLE[k](v) for k, v in given.items()}
    if not fields:
        raise ValidationFailed("details", "name, email or username to correct is required")
    return fields


def confirm(
    c: Container, *, token: str, correction: Mapping[str, str] | None = None
) -> RequestRead:
    """Use the link once: the request is verified and queued for fulfilment.

    A rectification asked by email states here what to correct (name, email, username),
    sealed into its details as a signed-in request's are. Refused (422) without one, and
    then the link stays usable: nothing of this unit is committed.
    """
    with c.uow() as uow:
        row = _token_row(uow, token)
        request = uow.session.get(RightsRequest, row.request_id)
        if request is None:
            raise NotFound("confirmation link")
        if _asks_correction(request):
            fields = _correction(correction)
            request.details_enc = seal_details(uow, request.subject_id, fields)
        now = c.clock.now()
        # The guard on used_at makes two confirmations racing for one link resolve to one.
        used = uow.session.execute(
            update(VerificationToken)
            .where(VerificationToken.token_hash == row.token_hash)
            .where(VerificationToken.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise VerificationLinkGone("was already used")
        # Control of the address on file is the subject's proof of identity (Art. 12(6)).
        lifecycle.mark_verified(uow, request, actor=Actor.subject(request.subject_id))
        uow.commit()
        return request_read(uow, request)
