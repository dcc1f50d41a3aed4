"""Purpose-bound processing: every use of a subject's data asks here first (Art. 5(1)(b), 18,
21, 6(1)(a)). The rule is kernel/purposes.py; the facts are the policy in force and the
subject's restriction, objections and consents."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from minimaker.kernel.actors import SYSTEM_RIGHTS
from minimaker.kernel.errors import ProcessingRefused
from minimaker.kernel.purposes import (
    Declared,
    Purpose,
    Refusal,
    SubjectState,
    refusal,
    state_matters,
)
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.policy import Policy
from minimaker.rights import events
from minimaker.rights.tables import Consent, Objection

#: The last policy read and its purposes as the rule reads them: the policy in force is one
#: frozen object per container, so this is computed once, not on every request.
_declared_cache: tuple[Policy, dict[str, Declared]] | None = None


def declared(policy: Policy) -> dict[str, Declared]:
    """The policy's purposes as the rule reads them."""
    global _declared_cache
    cached = _declared_cache
    if cached is not None and cached[0] is policy:
        return cached[1]
    found = {
        name: Declared(frozenset(p.categories), objectable=p.objectable, consent=p.consent)
        for name, p in policy.purposes.items()
    }
    _declared_cache = (policy, found)
    return found


def objectable(policy: Policy) -> tuple[str, ...]:
    """The purposes the policy lets a subject object to (Art. 21), in the policy's order."""
    return tuple(name for name, p in policy.purposes.items() if p.objectable)


def consentable(policy: Policy) -> tuple[str, ...]:
    """The purposes that run only with the subject's consent (Art. 6(1)(a)), in order."""
    return tuple(name for name, p in policy.purposes.items() if p.consent)


def subject_state(session: Session, subject_id: str) -> SubjectState:
    """Whether the subject is restricted, the purposes they object to and consent to."""
    # Imported when called: accounts' own service asks this module before it reads a profile.
    from minimaker.accounts import service as accounts

    objections = session.scalars(
        select(Objection.purpose).where(Objection.subject_id == subject_id)
    )
    consents = session.scalars(select(Consent.purpose).where(Consent.subject_id == subject_id))
    return SubjectState(
        restricted=accounts.restricted_since(session, subject_id) is not None,
        objections=frozenset(objections),
        consents=frozenset(consents),
    )


def _refusal(
    uow: UnitOfWork, subject_id: str, purpose: Purpose, categories: Iterable[str]
) -> tuple[Refusal, str] | None:
    rules = declared(uow.c.policy)
    # Service and security under the shipped policy: no state of the subject changes the
    # answer, so no database read (GET /me stays one round trip). Same rule, empty state.
    matters = state_matters(purpose, rules)
    state = subject_state(uow.session, subject_id) if matters else SubjectState()
    return refusal(purpose, categories, state, rules)


def ensure_allowed(
    uow: UnitOfWork, subject_id: str, purpose: Purpose, categories: Iterable[str]
) -> Purpose:
    """`purpose`, if the policy and the subject allow it to touch `categories`; else an
    audited ProcessingRefused (the refusal stands in the audit though the unit rolls back)."""
    found = _refusal(uow, subject_id, purpose, categories)
    if found is None:
        return purpose
    code, reason = found
    # Recorded under the tag's own purpose (security), not the refused one: nothing was
    # processed for that purpose, and it may be one the policy does not even declare.
    uow.audit_refusal(
        events.PROCESSING_REFUSED,
        actor=SYSTEM_RIGHTS,
        subject=subject_id,
        object=f"purpose:{purpose.value}:{code.value}",
    )
    raise ProcessingRefused(purpose.value, reason)


def allowed(uow: UnitOfWork, subject_id: str, purpose: Purpose, categories: Iterable[str]) -> bool:
    """The same rule as a yes/no, for optional processing that is simply not done."""
    return _refusal(uow, subject_id, purpose, categories) is None
