"""Purpose-bound processing: every use of a subject's data asks here first (Art. 5(1)(b), 18,
21, 6(1)(a)). The rule is kernel/purposes.py; the facts are the policy in force and the
subject's restriction, objections and consents."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from minimaker.accounts.service import restricted_since
from minimaker.kernel.actors import SYSTEM_RIGHTS
from minimaker.kernel.errors import ProcessingRefused
from minimaker.kernel.purposes import Declared, Purpose, SubjectState, refusal
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.policy import Policy
from minimaker.rights import events
from minimaker.rights.tables import Consent, Objection


def declared(policy: Policy) -> dict[str, Declared]:
    """The policy's purposes as the rule reads them."""
    return {
        name: Declared(frozenset(p.categories), objectable=p.objectable, consent=p.consent)
        for name, p in policy.purposes.items()
    }


def subject_state(session: Session, subject_id: str) -> SubjectState:
    """Whether the subject is restricted, the purposes they object to and consent to."""
    objections = session.scalars(
        select(Objection.purpose).where(Objection.subject_id == subject_id)
    )
    consents = session.scalars(select(Consent.purpose).where(Consent.subject_id == subject_id))
    return SubjectState(
        restricted=restricted_since(session, subject_id) is not None,
        objections=frozenset(objections),
        consents=frozenset(consents),
    )


def ensure_allowed(
    uow: UnitOfWork, subject_id: str, purpose: Purpose, categories: Iterable[str]
) -> Purpose:
    """`purpose`, if the policy and the subject allow it to touch `categories`; else an
    audited ProcessingRefused (the refusal stands in the audit though the unit rolls back)."""
    state = subject_state(uow.session, subject_id)
    found = refusal(purpose, categories, state, declared(uow.c.policy))
    if found is None:
        return purpose
    code, reason = found
    uow.audit_refusal(
        events.PROCESSING_REFUSED,
        actor=SYSTEM_RIGHTS,
        subject=subject_id,
        object=f"purpose:{purpose.value}:{code.value}",
        purpose=purpose,
    )
    raise ProcessingRefused(purpose.value, reason)


def allowed(uow: UnitOfWork, subject_id: str, purpose: Purpose, categories: Iterable[str]) -> bool:
    """The same rule as a yes/no, for optional processing that is simply not done."""
    state = subject_state(uow.session, subject_id)
    return refusal(purpose, categories, state, declared(uow.c.policy)) is None
