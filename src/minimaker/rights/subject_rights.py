"""Fulfilment of rectification (Art. 16), restriction (Art. 18) and objection (Art. 21)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from minimaker.accounts import service as accounts
from minimaker.accounts.tables import User
from minimaker.adapters import job_queue as queue
from minimaker.generation.tables import Model3D
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.kernel.purposes import OBJECTABLE
from minimaker.mail import outbox
from minimaker.rights import recipients
from minimaker.rights.service import Work
from minimaker.rights.tables import Objection


def rectify(c: Container, work: Work) -> str | None:
    """Apply the corrected fields, then tell every recipient holding a copy (Art. 19)."""
    fields = {k: work.details.get(k) for k in ("name", "email", "username")}
    if not any(isinstance(v, str) for v in fields.values()):
        raise ValidationFailed("details", "name, email or username to correct is required")
    accounts.correct_profile(
        c, user_id=work.subject_id, **{k: v for k, v in fields.items() if isinstance(v, str)}
    )
    with c.uow() as uow:
        recipients.notify_recipients(uow, subject_id=work.subject_id, what="rectification")
        uow.commit()
    return None


def object_to(c: Container, work: Work) -> str | None:
    """Record objections to the named purposes; effective for all processing at once."""
    purposes = work.details.get("purposes", list(OBJECTABLE))
    set_objections(c, user_id=work.subject_id, objections=_purposes(purposes), replace=False)
    return None


def restrict(c: Container, work: Work) -> str | None:
    """Restrict (default) or lift a restriction; the subject is told before it is lifted."""
    action = work.details.get("action", "restrict")
    if action == "restrict":
        set_restriction(c, user_id=work.subject_id, restricted=True)
    elif action == "lift":
        set_restriction(c, user_id=work.subject_id, restricted=False)
    else:
        raise ValidationFailed("details.action", "must be restrict or lift")
    return None


def _purposes(value: Any) -> set[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationFailed("purposes", "must be a list of purposes")
    unknown = set(value) - set(OBJECTABLE)
    if unknown:
        raise ValidationFailed("purposes", "each must be one of " + ", ".join(OBJECTABLE))
    return set(value)


def get_objections(c: Container, *, user_id: str) -> dict[str, bool]:
    """Each objectable purpose -> whether the subject objects to it."""
    with c.uow(write=False) as uow:
        objected = set(
            uow.session.scalars(select(Objection.purpose).where(Objection.subject_id == user_id))
        )
    return {p: p in objected for p in OBJECTABLE}


def set_objections(
    c: Container, *, user_id: str, objections: set[str], replace: bool = True
) -> dict[str, bool]:
    """Object to (or, with replace, withdraw from) purposes; audited per change."""
    with c.uow() as uow:
        if uow.session.get(User, user_id) is None:
            raise NotFound("account")
        current = set(
            uow.session.scalars(select(Objection.purpose).where(Objection.subject_id == user_id))
        )
        wanted = objections if replace else current | objections
        for purpose in sorted(wanted - current):
            uow.session.add(Objection(subject_id=user_id, purpose=purpose, since=c.clock.now()))
            uow.audit(
                "privacy:objection:recorded",
                actor=f"subject:{user_id}",
                subject=user_id,
                object=f"purpose:{purpose}",
                purpose="service",
            )
        for purpose in sorted(current - wanted):
            uow.session.execute(
                delete(Objection).where(
                    Objection.subject_id == user_id, Objection.purpose == purpose
                )
            )
            uow.audit(
                "privacy:objection:withdrawn",
                actor=f"subject:{user_id}",
                subject=user_id,
                object=f"purpose:{purpose}",
                purpose="service",
            )
        uow.commit()
    return {p: p in wanted for p in OBJECTABLE}


def set_restriction(c: Container, *, user_id: str, restricted: bool) -> None:
    """Art. 18: restrict processing to storage, or lift it after telling the subject."""
    with c.uow() as uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotFound("account")
        if restricted and user.restricted_at is None:
            user.restricted_at = c.clock.now()
            # Queued work that would process the data stops here (it would be refused anyway).
            queue.cancel_kind_for_subject(
                uow.session, user_id, kind="generate_model", now=c.clock.now()
            )
            uow.session.execute(
                update(Model3D)
                .where(Model3D.owner_id == user_id, Model3D.status == "queued")
                .values(
                    status="failed",
                    error="stopped: processing of this account is restricted (Art. 18)",
                    finished_at=c.clock.now(),
                )
            )
            uow.audit(
                "privacy:restriction:applied",
                actor=f"subject:{user_id}",
                subject=user_id,
                purpose="service",
            )
            recipients.notify_recipients(uow, subject_id=user_id, what="restriction")
        elif not restricted and user.restricted_at is not None:
            # Art. 18(3): the subject is informed before the restriction is lifted; the
            # message is queued in this same transaction, ahead of the change taking effect.
            outbox.queue_to_subject(
                uow,
                subject_id=user_id,
                kind="restriction_lifted",
                subject="The restriction of your data is being lifted",
                body="As you asked, we are lifting the restriction of processing of your data. "
                "Generating models and the other processing you agreed to will resume.",
            )
            user.restricted_at = None
            uow.audit(
                "privacy:restriction:lifted",
                actor=f"subject:{user_id}",
                subject=user_id,
                purpose="service",
            )
        uow.commit()


def is_restricted(c: Container, *, user_id: str) -> bool:
    with c.uow(write=False) as uow:
        user = uow.session.get(User, user_id)
        return bool(user and user.restricted_at is not None)
