"""Restriction (Art. 18): processing stops at storage until the subject lifts it.

`processing.py` refuses every use but storage while the account is restricted; applying it
also stops generation already queued, and tells every recipient of a copy (Art. 19). Lifting
it tells the subject first, in a committed unit of its own, then lifts it (Art. 18(3)).
"""

from __future__ import annotations

from datetime import datetime

from minimaker.accounts import service as accounts
from minimaker.generation import service as generation
from minimaker.kernel.actors import SYSTEM_RIGHTS, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.kernel.faults import crash_point
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.rights import events, recipients
from minimaker.rights.fulfil import Work

#: The kind of the message telling the subject their restriction is being lifted (Art. 18(3)).
LIFTED_NOTICE = "restriction_lifted"
#: Why a model queued before the restriction was stopped (shown to the subject).
STOPPED = "stopped: processing of this account is restricted (Art. 18)"


def restrict(c: Container, work: Work) -> str | None:
    """Fulfiller: restrict (the default) or lift a restriction, as the request says."""
    action = work.details.get("action", "restrict")
    if action == "restrict":
        set_restriction(c, user_id=work.subject_id, restricted=True)
    elif action == "lift":
        set_restriction(c, user_id=work.subject_id, restricted=False)
    else:
        raise ValidationFailed("details.action", "must be restrict or lift")
    return None


def set_restriction(c: Container, *, user_id: str, restricted: bool) -> None:
    """Art. 18: restrict processing to storage, or lift it once the subject has been told."""
    if not restricted:
        _lift(c, user_id)
        return
    with c.uow() as uow:
        if _restricted_since(uow, user_id) is None:
            _apply(uow, user_id)
        uow.commit()


def restrict_while_held(uow: UnitOfWork, user_id: str) -> None:
    """Art. 18(1) with 17(3): an erasure the law defers leaves the data stored, and only
    stored (restriction keeps storage and security, under which legal claims are pursued,
    so it never stops the hold itself). In the caller's unit; no account, nothing to do."""
    if not accounts.account_exists(uow.session, user_id):
        return
    if accounts.restricted_since(uow.session, user_id) is None:
        _apply(uow, user_id, actor=SYSTEM_RIGHTS)


def _restricted_since(uow: UnitOfWork, user_id: str) -> datetime | None:
    if not accounts.account_exists(uow.session, user_id):
        raise NotFound("account")
    return accounts.restricted_since(uow.session, user_id)


def _apply(uow: UnitOfWork, user_id: str, *, actor: Actor | None = None) -> None:
    accounts.set_restricted(uow, user_id=user_id, since=uow.c.clock.now())
    # Queued work that would process the data stops here (it would be refused anyway).
    generation.stop_queued(uow, owner_id=user_id, reason=STOPPED)
    uow.audit(events.RESTRICTION_APPLIED, actor=actor or Actor.subject(user_id), subject=user_id)
    recipients.notify_recipients(uow, subject_id=user_id, what="restriction")


def _lift(c: Container, user_id: str) -> None:
    # Art. 18(3): the subject is informed *before* the restriction is lifted. So the notice
    # is committed first, in a unit of its own, and only a second unit lifts it: the order
    # is a fact of the database, not of statements inside one transaction. A crash between
    # the two leaves the restriction in force and the subject told it is ending; the retried
    # job tells them again (mail is at least once) and then lifts it.
    with c.uow() as uow:
        if _restricted_since(uow, user_id) is None:
            return
        _tell_lifting(uow, user_id)
        uow.commit()
    crash_point("restriction.subject_told")
    with c.uow() as uow:
        if _restricted_since(uow, user_id) is not None:
            accounts.set_restricted(uow, user_id=user_id, since=None)
            uow.audit(events.RESTRICTION_LIFTED, actor=Actor.subject(user_id), subject=user_id)
        uow.commit()


def _tell_lifting(uow: UnitOfWork, user_id: str) -> None:
    outbox.queue_to_subject(
        uow,
        subject_id=user_id,
        kind=LIFTED_NOTICE,
        subject="The restriction of your data is being lifted",
        body="As you asked, we are lifting the restriction of processing of your data. "
        "Generating models and the other processing you agreed to will resume.",
    )


def is_restricted(c: Container, *, user_id: str) -> bool:
    """Whether processing of the subject's data is restricted right now."""
    with c.uow(write=False) as uow:
        return accounts.restricted_since(uow.session, user_id) is not None
