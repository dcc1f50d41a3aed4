"""The subject's preferences as one use case: objections (Art. 21) and consents (Art. 7),
changed together in one unit of work, so a refused change leaves both as they were."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from minimaker.accounts import service as accounts
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ValidationFailed
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import consent, objection
from minimaker.rights.processing import consentable, objectable


@dataclass(frozen=True)
class Preferences:
    """Objections and consents by purpose (those the policy in force offers), restriction."""

    objections: dict[str, bool]
    consents: dict[str, bool]
    restricted: bool


def chosen(field: str, wanted: Mapping[str, bool], offered: tuple[str, ...]) -> set[str]:
    """The purposes switched on in `wanted`.

    422 for a purpose the code does not know, or one switched on that the policy in force
    does not offer here; off for one it does not offer changes nothing (a client written for
    another version of the policy still works)."""
    known = {p.value for p in Purpose}
    if set(wanted) - known:
        raise ValidationFailed(field, "unknown purpose; offered: " + ", ".join(offered))
    refused = sorted(p for p, on in wanted.items() if on and p not in offered)
    if refused:
        raise ValidationFailed(field, "the policy in force does not offer " + ", ".join(refused))
    return {p for p, on in wanted.items() if on}


def get_preferences(c: Container, *, user_id: str) -> Preferences:
    """The subject's objections, consents and restriction, as of now."""
    with c.uow(write=False) as uow:
        return _read(uow, user_id)


def set_preferences(
    c: Container,
    *,
    user_id: str,
    objections: Mapping[str, bool],
    consents: Mapping[str, bool] | None = None,
) -> Preferences:
    """Replace the objections and (if given) the consents; every change audited, all or none."""
    objected = chosen("objections", objections, objectable(c.policy))
    consented = None if consents is None else chosen("consents", consents, consentable(c.policy))
    with c.uow() as uow:
        objection.record_objections(uow, user_id=user_id, objections=objected)
        if consented is not None:
            consent.record_consents(uow, user_id=user_id, consents=consented)
        now = _read(uow, user_id)
        uow.commit()
    return now


def _read(uow: UnitOfWork, user_id: str) -> Preferences:
    return Preferences(
        objections=objection.objections_of(uow, user_id),
        consents=consent.consents_of(uow, user_id),
        restricted=accounts.restricted_since(uow.session, user_id) is not None,
    )
