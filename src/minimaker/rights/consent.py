"""Consent (Art. 6(1)(a), 7): per purpose the policy runs only on consent, given and withdrawn
by the subject's own act in the privacy centre or the preferences API, each change audited.

None is presumed (Art. 4(11), 7(2)): a new account has no consent row, so a consent purpose is
refused for it until the subject opts in; withdrawing is the same one switch (Art. 7(3)).
"""

from __future__ import annotations

from sqlalchemy import delete, select

from minimaker.accounts import service as accounts
from minimaker.kernel.actors import Actor
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import events
from minimaker.rights.processing import consentable
from minimaker.rights.tables import Consent


def get_consents(c: Container, *, user_id: str) -> dict[str, bool]:
    """Each consent purpose of the policy in force -> whether the subject consents to it."""
    with c.uow(write=False) as uow:
        return consents_of(uow, user_id)


def consents_of(uow: UnitOfWork, user_id: str) -> dict[str, bool]:
    """Each consent purpose of the policy in force -> whether the subject consents to it."""
    given = _given(uow, user_id)
    return {p: p in given for p in consentable(uow.c.policy)}


def set_consents(c: Container, *, user_id: str, consents: set[str]) -> dict[str, bool]:
    """Consent to exactly `consents` (a purpose left out is withdrawn); audited per change."""
    with c.uow() as uow:
        record_consents(uow, user_id=user_id, consents=consents)
        now = consents_of(uow, user_id)
        uow.commit()
    return now


def record_consents(uow: UnitOfWork, *, user_id: str, consents: set[str]) -> None:
    """Consent to exactly `consents` in the caller's unit; each change audited. Only purposes
    the policy in force runs on consent can be consented to."""
    offered = set(consentable(uow.c.policy))
    if consents - offered:
        raise ValidationFailed("consents", "each must be one of " + ", ".join(sorted(offered)))
    if not accounts.account_exists(uow.session, user_id):
        raise NotFound("account")
    current = _given(uow, user_id)
    for purpose in sorted(consents - current):
        uow.session.add(Consent(subject_id=user_id, purpose=purpose, given_at=uow.c.clock.now()))
        _audit(uow, user_id, purpose, events.CONSENT_GIVEN)
    for purpose in sorted(current - consents):
        uow.session.execute(
            delete(Consent).where(Consent.subject_id == user_id, Consent.purpose == purpose)
        )
        _audit(uow, user_id, purpose, events.CONSENT_WITHDRAWN)


def _given(uow: UnitOfWork, user_id: str) -> set[str]:
    return set(uow.session.scalars(select(Consent.purpose).where(Consent.subject_id == user_id)))


def _audit(uow: UnitOfWork, user_id: str, purpose: str, tag: AuditTag) -> None:
    uow.audit(tag, actor=Actor.subject(user_id), subject=user_id, object=f"purpose:{purpose}")
