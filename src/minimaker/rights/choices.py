"""A subject's own choices per purpose, one row each: objections (Art. 21) and consents (Art. 7).

Both are a set of purposes the subject chose, offered only where the policy in force says, set
in the caller's unit of work with one audit entry per change; `consent.py` and `objection.py`
say which table, which purposes and which tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from minimaker.accounts import service as accounts
from minimaker.kernel.actors import Actor
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.errors import NotFound, ValidationFailed
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights.tables import Consent, Objection


@dataclass(frozen=True)
class Choices:
    """One kind of choice: its table, the input's name, and the tags of a change."""

    table: type[Consent] | type[Objection]
    field: str
    made: AuditTag
    undone: AuditTag

    def chosen(self, uow: UnitOfWork, user_id: str) -> set[str]:
        """The purposes the subject chose."""
        query = select(self.table.purpose).where(self.table.subject_id == user_id)
        return set(uow.session.scalars(query))

    def record(
        self, uow: UnitOfWork, *, user_id: str, wanted: set[str], offered: Iterable[str]
    ) -> None:
        """Make the subject's choices exactly `wanted`, each change audited; a purpose the
        policy does not offer, or an unknown account, is refused before anything changes."""
        allowed = set(offered)
        if wanted - allowed:
            raise ValidationFailed(self.field, "each must be one of " + ", ".join(sorted(allowed)))
        if not accounts.account_exists(uow.session, user_id):
            raise NotFound("account")
        current, now = self.chosen(uow, user_id), uow.c.clock.now()
        for purpose in sorted(wanted - current):
            uow.session.add(self._row(user_id, purpose, now))
            self._audit(uow, user_id, purpose, self.made)
        for purpose in sorted(current - wanted):
            table = self.table
            uow.session.execute(
                delete(table).where(table.subject_id == user_id, table.purpose == purpose)
            )
            self._audit(uow, user_id, purpose, self.undone)

    def _row(self, user_id: str, purpose: str, now: datetime) -> Consent | Objection:
        if self.table is Consent:
            return Consent(subject_id=user_id, purpose=purpose, given_at=now)
        return Objection(subject_id=user_id, purpose=purpose, since=now)

    @staticmethod
    def _audit(uow: UnitOfWork, user_id: str, purpose: str, tag: AuditTag) -> None:
        uow.audit(tag, actor=Actor.subject(user_id), subject=user_id, object=f"purpose:{purpose}")
