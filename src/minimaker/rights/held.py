"""An erasure the law forbids for now (Art. 17(3)(b) legal obligation, (e) legal claims).

When the erasure fulfiller finds a legal hold on the subject (retention/holds.py), of any rule,
the whole erasure waits: erasure destroys the subject's key, which every datum of theirs
needs, so there is no erasing "all but what is held" (docs/decisions/0026). Then, in one unit:

- the request moves to `held`, and its clock stops (`paused_at`): the subject has had our
  answer (Art. 12(4)), and what keeps it waiting is the law, so it is never reported overdue;
- processing is restricted to storage (Art. 18(1)): the data is kept only for the hold, which
  restriction allows (storage, and security, the purpose legal claims are pursued under);
- the subject is told, in plain words, why their data must be kept (the reason's plain text,
  never the case reference), that it will be erased when that ends, and of Art. 77.

Releasing the subject's last hold calls `resume_erasures` in the release's unit: the time
held is added to the deadline, like a pause, and fulfilment is queued again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from minimaker.kernel.actors import SYSTEM_RIGHTS, Actor
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.retention.rules import PLAIN_REASON, HoldReason
from minimaker.rights import lifecycle, restriction
from minimaker.rights.fulfil import Work
from minimaker.rights.rules import RequestType, Status
from minimaker.rights.tables import RightsRequest

#: The outbox kind of the message telling the subject their erasure waits on the law.
HELD_NOTICE = "erasure_held"


def hold_erasure(uow: UnitOfWork, work: Work, reason: HoldReason) -> None:
    """Put the erasure in `work` on hold for `reason`: held, restricted, the subject told."""
    row = lifecycle.find(uow, work.request_id)
    row.paused_at = uow.c.clock.now()
    # The reason's code only: the case reference stays with the hold (and the officer).
    note = f"held by law (Art. 17(3)): a legal hold, reason {reason.value}"
    lifecycle.move(uow, row, Status.HELD, actor=SYSTEM_RIGHTS, note=note)
    restriction.restrict_while_held(uow, work.subject_id)
    outbox.queue_to_subject(
        uow,
        subject_id=work.subject_id,
        kind=HELD_NOTICE,
        subject="We must keep your data for now",
        body=_notice(work, reason),
    )


def _notice(work: Work, reason: HoldReason) -> str:
    asked = f"You asked us to erase your account and data (request {work.request_id})."
    if work.channel == "retention":
        asked = (
            "Your account has not been used for as long as our data protection policy allows, "
            f"so we would now erase it (request {work.request_id})."
        )
    return (
        f"{asked} We cannot do so yet: the law requires us to keep your data for now, because "
        f"{PLAIN_REASON[reason]} (Art. 17(3) GDPR).\n\n"
        "Until then we only store it: we have restricted its processing (Art. 18 GDPR), so "
        "it is used for nothing else. As soon as the reason ends, we erase everything, "
        "without your having to ask again, and tell you when it is done.\n\n" + lifecycle.COMPLAINT
    )


def resume_erasures(uow: UnitOfWork, *, subject_id: str, actor: Actor) -> int:
    """The subject's last hold is gone: each erasure it held is queued again; how many."""
    rows = uow.session.scalars(
        select(RightsRequest).where(
            RightsRequest.subject_id == subject_id,
            RightsRequest.type == RequestType.ERASURE.value,
            RightsRequest.status == Status.HELD.value,
        )
    ).all()
    now = uow.c.clock.now()
    for row in rows:
        # The time held does not count against the deadline (as for a pause).
        held_for = now - row.paused_at if row.paused_at is not None else timedelta(0)
        deadline = lifecycle.deadline_of(row).paused(held_for)
        row.due_at, row.original_due_at = deadline.due_at, deadline.original_due_at
        row.paused_seconds = int(deadline.paused_for.total_seconds())
        row.paused_at = None
        lifecycle.mark_verified(uow, row, actor=actor)
    return len(rows)
