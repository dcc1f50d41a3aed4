"""Objection (Art. 21): per purpose the policy makes objectable, effective for every
processing at once — `processing.py` reads the objections before each use of the data."""

from __future__ import annotations

from typing import Any

from minimaker.kernel.container import Container
from minimaker.kernel.errors import ValidationFailed
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import events
from minimaker.rights.choices import Choices
from minimaker.rights.fulfil import Work
from minimaker.rights.processing import objectable
from minimaker.rights.tables import Objection

OBJECTIONS = Choices(Objection, "objections", events.OBJECTION_RECORDED, events.OBJECTION_WITHDRAWN)


def object_to(c: Container, work: Work) -> str | None:
    """Fulfiller: record objections to the named purposes (all objectable ones by default)."""
    purposes = work.details.get("purposes", list(objectable(c.policy)))
    set_objections(c, user_id=work.subject_id, objections=_purposes(c, purposes), replace=False)
    return None


def _purposes(c: Container, value: Any) -> set[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationFailed("purposes", "must be a list of purposes")
    offered = objectable(c.policy)
    if set(value) - set(offered):
        raise ValidationFailed("purposes", "each must be one of " + ", ".join(offered))
    return set(value)


def get_objections(c: Container, *, user_id: str) -> dict[str, bool]:
    """Each objectable purpose -> whether the subject objects to it."""
    with c.uow(write=False) as uow:
        return objections_of(uow, user_id)


def objections_of(uow: UnitOfWork, user_id: str) -> dict[str, bool]:
    """Each purpose the policy in force makes objectable -> whether the subject objects."""
    objected = OBJECTIONS.chosen(uow, user_id)
    return {p: p in objected for p in objectable(uow.c.policy)}


def set_objections(
    c: Container, *, user_id: str, objections: set[str], replace: bool = True
) -> dict[str, bool]:
    """Object to (or, with replace, withdraw from) purposes; audited per change."""
    with c.uow() as uow:
        record_objections(uow, user_id=user_id, objections=objections, replace=replace)
        now = objections_of(uow, user_id)
        uow.commit()
    return now


def record_objections(
    uow: UnitOfWork, *, user_id: str, objections: set[str], replace: bool = True
) -> None:
    """Object to (or, with replace, withdraw from) purposes in the caller's unit; audited per
    change. Only purposes the policy makes objectable are recorded (Art. 21)."""
    wanted = objections if replace else OBJECTIONS.chosen(uow, user_id) | objections
    OBJECTIONS.record(uow, user_id=user_id, wanted=wanted, offered=objectable(uow.c.policy))
