"""Telling every user of a significant version (policy 12: "significant changes will be
communicated to users"), through the outbox, in bounded batches.

A periodic duty of every worker: each batch is one transaction that locks the version's row,
walks the next accounts in id order, queues one email to each (sealed in the outbox like any
other mail), records that they are asked to acknowledge the version, and moves the cursor on.
So 100,000 users make 500 small transactions, several workers never tell anyone twice (the
row lock, and one acknowledgement row per user and version), and a crash mid-batch loses
nothing: the batch rolls back whole and the next run does it again.
"""

from __future__ import annotations

from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.kernel.actors import SYSTEM_MAIL
from minimaker.kernel.container import Container
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.publication import events
from minimaker.publication.tables import PolicyAcknowledgement, PolicyVersion
from minimaker.rights.processing import allowed

#: Accounts per transaction, and transactions per run of the duty (a worker's tick stays short).
BATCH = 200
BATCHES_PER_RUN = 10
#: The outbox kind of the message (a fixed word: kinds are listed, never personal).
KIND = "policy_changed"
#: Telling a user of a change to the terms they are served under is part of the service.
_TOUCHES = ("account", "message")


def notify_users(c: Container, *, batch: int = BATCH, batches: int = BATCHES_PER_RUN) -> int:
    """Tell the next users of each significant version still being told; how many were told."""
    told = 0
    for _ in range(batches):
        done = _one_batch(c, limit=batch)
        if done is None:
            break
        told += done
    return told


def _one_batch(c: Container, *, limit: int) -> int | None:
    """One batch of one version's walk; None when no version has anyone left to tell."""
    with c.uow() as uow:
        row = uow.session.scalar(
            select(PolicyVersion)
            .where(PolicyVersion.notified_at.is_(None))
            .order_by(PolicyVersion.published_at)
            .limit(1)
            .with_for_update()  # PostgreSQL: one worker walks a version at a time
        )
        if row is None:
            return None
        ids = accounts.account_ids(
            uow.session, after=row.notified_through, created_by=row.published_at, limit=limit
        )
        told = sum(_tell(uow, row, user_id) for user_id in ids)
        if len(ids) < limit:
            # The walk is over; the cursor (an account id) is not kept past it.
            row.notified_at, row.notified_through = c.clock.now(), None
        else:
            row.notified_through = ids[-1]
        uow.audit(
            events.USERS_NOTIFIED,
            actor=SYSTEM_MAIL,
            object=f"version:{row.version}:users:{told}",
        )
        uow.commit()
        return told


def _tell(uow: UnitOfWork, row: PolicyVersion, user_id: str) -> bool:
    """Queue the email and the request to acknowledge; False if they cannot be told."""
    if uow.session.get(PolicyAcknowledgement, (user_id, row.version)) is not None:
        return False  # told already, or acknowledged before being told
    if not allowed(uow, user_id, Purpose.SERVICE, _TOUCHES):
        return False
    queued = outbox.queue_to_subject(
        uow,
        subject_id=user_id,
        kind=KIND,
        subject="Our data protection policy has changed",
        body=_body(uow, row),
    )
    if queued is None:
        return False  # the account or its key is gone (an erasure under way)
    uow.session.add(
        PolicyAcknowledgement(subject_id=user_id, version=row.version, asked_at=uow.c.clock.now())
    )
    return True


def _body(uow: UnitOfWork, row: PolicyVersion) -> str:
    base = uow.c.settings.public_url.rstrip("/")
    return (
        f"Our data protection policy has changed. Version {row.version} is in force since "
        f"{row.effective:%Y-%m-%d}.\n\nWhat changed: {row.changes}\n\n"
        f"Read it at {base}/privacy-policy (earlier versions stay readable there).\n\n"
        "The next time you sign in, we will ask you to acknowledge it. You can still see, "
        f"download or delete your data at any time in your privacy centre: {base}/privacy"
    )
