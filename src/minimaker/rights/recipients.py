"""Art. 19: every recipient a subject's data was disclosed to is told of a rectification,
erasure or restriction. Recipients come from the disclosure log and the policy's processors;
the log is written by the sharing service only (sharing/service.py), when data leaves."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.kernel.actors import SYSTEM_RIGHTS
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.rights import events, owned_rows
from minimaker.rights.tables import Disclosure


def record_disclosure(
    uow: UnitOfWork, *, subject_id: str, recipient: str, categories: list[str], purpose: str
) -> bool:
    """Log that a copy of the subject's data went to `recipient`; False (nothing logged) when
    the subject no longer has an account. Only the sharing service calls this (policy 7.2)."""
    if recipient not in uow.c.policy.processors:
        raise ValueError("disclosures go only to processors the policy names")
    # Art. 17: mail outlives an erasure (the confirmation), so a disclosure can come after
    # it; a row then would outlive the subject. Lock as erasure does, so that it waits for
    # this row (and deletes it) or has gone already (and there is no account to log it for).
    for d in uow.c.personal_data.locked():
        uow.session.execute(owned_rows.lock(d, subject_id))
    if not accounts.account_exists(uow.session, subject_id):
        return False
    uow.session.add(
        Disclosure(
            id=uuid.uuid4().hex,
            subject_id=subject_id,
            recipient=recipient,
            categories=",".join(sorted(categories)),
            purpose=purpose,
            at=uow.c.clock.now(),
        )
    )
    return True


def recipients_of(uow: UnitOfWork, subject_id: str) -> list[str]:
    """Everyone who holds a copy of the subject's data, by the disclosure log."""
    return sorted(
        set(
            uow.session.scalars(
                select(Disclosure.recipient).where(Disclosure.subject_id == subject_id)
            )
        )
    )


def notify_recipients(uow: UnitOfWork, *, subject_id: str, what: str) -> list[str]:
    """Queue a notice of `what` (rectification, erasure, restriction) to every recipient."""
    # Art. 19 "unless this proves impossible or involves disproportionate effort": a recipient
    # that keeps no copy (the SMTP relay) has nothing to apply a notice to, and is not sent one.
    contacts = {name: p.contact for name, p in uow.c.policy.processors.items() if p.keeps_copies}
    told = []
    for recipient in recipients_of(uow, subject_id):
        contact = contacts.get(recipient)
        if not contact:
            continue
        # The recipient knows the subject by the pseudonymous id we shared, nothing more.
        outbox.queue_message(
            uow,
            subject_id=subject_id,
            to=contact,
            kind=f"recipient_{what}",
            subject=f"Data subject request: {what}",
            body=(
                f"Under Art. 19 GDPR we inform you of a {what} concerning data subject "
                f"{subject_id} whose data we disclosed to you. Please apply it to your copy."
            ),
        )
        uow.audit(
            events.RECIPIENT_NOTIFIED,
            actor=SYSTEM_RIGHTS,
            subject=subject_id,
            object=f"recipient:{recipient}:{what}",
        )
        told.append(recipient)
    return told
