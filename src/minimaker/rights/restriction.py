"""Restriction (Art. 18): processing stops at storage until the subject lifts it.

`processing.py` refuses every use but storage while the account is restricted; applying it
also stops generation already queued, and tells every recipient of a copy (Art. 19).
"""

from __future__ import annotations

from minimaker.accounts import service as accounts
from minimaker.generation import service as generation
from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.rights import events, recipients
from minimaker.rights.fulfil import Work

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
    """Art. 18: restrict processing to storage, or lift it after telling the subject."""
    with c.uow() as uow:
        if not accounts.account_exists(uow.session, user_id):
            raise NotFound("account")
        since = accounts.restricted_since(uow.session, user_id)
        if restricted and since is None:
            _apply(uow, user_id)
        elif not restricted and since is not None:
            _lift(uow, user_id)
        uow.commit()


def _apply(uow: UnitOfWork, user_id: str) -> None:
    accounts.set_restricted(uow, user_id=user_id, since=uow.c.clock.now())
    # Queued work that would process the data stops here (it would be refused anyway).
    generation.stop_queued(uow, owner_id=user_id, reason=STOPPED)
    uow.audit(events.RESTRICTION_APPLIED, actor=Actor.subject(user_id), subject=user_id)
    recipients.notify_recipients(uow, subject_id=user_id, what="restriction")


def _lift(uow: UnitOfWork, user_id: str) -> None:
    # Art. 18(3): the subject is informed before the restriction is lifted; the message is
    # queued in this same transaction, ahead of the change taking effect.
    outbox.queue_to_subject(
        uow,
        subject_id=user_id,
        kind="restriction_lifted",
        subject="The restriction of your data is being lifted",
        body="As you asked, we are lifting the restriction of processing of your data. "
        "Generating models and the other processing you agreed to will resume.",
    )
    accounts.set_restricted(uow, user_id=user_id, since=None)
    uow.audit(events.RESTRICTION_LIFTED, actor=Actor.subject(user_id), subject=user_id)


def is_restricted(c: Container, *, user_id: str) -> bool:
    """Whether processing of the subject's data is restricted right now."""
    with c.uow(write=False) as uow:
        return accounts.restricted_since(uow.session, user_id) is not None
