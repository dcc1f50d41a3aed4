"""Consent (Art. 6(1)(a), 7): per purpose the policy runs only on consent, given and withdrawn
by the subject's own act in the privacy centre or the preferences API, each change audited.

None is presumed (Art. 4(11), 7(2)): a new account has no consent row, so a consent purpose is
refused for it until the subject opts in; withdrawing is the same one switch (Art. 7(3)).
"""

from __future__ import annotations

from minimaker.kernel.container import Container
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import events
from minimaker.rights.choices import Choices
from minimaker.rights.processing import consentable
from minimaker.rights.tables import Consent

CONSENTS = Choices(Consent, "consents", events.CONSENT_GIVEN, events.CONSENT_WITHDRAWN)


def get_consents(c: Container, *, user_id: str) -> dict[str, bool]:
    """Each consent purpose of the policy in force -> whether the subject consents to it."""
    with c.uow(write=False) as uow:
        return consents_of(uow, user_id)


def consents_of(uow: UnitOfWork, user_id: str) -> dict[str, bool]:
    """Each consent purpose of the policy in force -> whether the subject consents to it."""
    given = CONSENTS.chosen(uow, user_id)
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
    CONSENTS.record(uow, user_id=user_id, wanted=consents, offered=consentable(uow.c.policy))
