"""The unit of work: one transaction in which rows, audit events and blob writes succeed or
vanish together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from minimaker.adapters import audit_chain as audit_store
from minimaker.adapters.db import WRITE_OPTION
from minimaker.kernel.actors import Actor
from minimaker.kernel.audit import AuditEvent, AuditTag
from minimaker.kernel.purposes import Purpose

if TYPE_CHECKING:
    from minimaker.kernel.container import Container


class UnitOfWork:
    """One transaction: rows, audit events and blob writes succeed or vanish together."""

    def __init__(self, container: Container, *, write: bool = True) -> None:
        self.c = container
        self._write = write
        self._events: list[AuditEvent] = []
        self._new_blobs: list[str] = []
        self._new_keys: list[str] = []
        self._doomed_blobs: list[str] = []
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.session: Session = self.c.sessions()
        if self._write:
            self.session.connection(execution_options={WRITE_OPTION: True})
        self.keys = self.c.keys
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if not self._committed:
                self.session.rollback()
                # Blobs written for work that did not commit must not outlive it.
                for blob_id in self._new_blobs:
                    self.c.blobs.delete(blob_id)
                for subject_id in self._new_keys:
                    self.c.keys.discard_subject_key(subject_id)
        finally:
            self.session.close()

    def audit(
        self,
        action: AuditTag,
        *,
        actor: Actor,
        subject: str | None = None,
        object: str | None = None,
        purpose: Purpose | None = None,
    ) -> None:
        """Record an audit event; it is chained in the same transaction, at commit.

        The tag comes from a feature's events.py and the actor is a value, never a string
        typed here; the purpose is the tag's own unless the caller names the one it checked.
        """
        if not isinstance(action, AuditTag) or not isinstance(actor, Actor):
            raise TypeError("audit takes an AuditTag and an Actor (see kernel/actors.py)")
        chosen = action.purpose if purpose is None else Purpose(purpose)
        self._events.append(AuditEvent(str(actor), str(action), subject, object, chosen.value))

    def new_subject_key(self, subject_id: str) -> bytes:
        """Mint a data key for a new subject; it is discarded if this unit does not commit."""
        self._new_keys.append(subject_id)
        return self.c.keys.create_subject_key(subject_id, now=self.c.clock.now())

    def wrote_blob(self, blob_id: str) -> None:
        """Register a blob written in this unit; it is removed if the unit does not commit."""
        self._new_blobs.append(blob_id)

    def delete_blob_after_commit(self, blob_id: str) -> None:
        """Delete a blob once the rows that point at it are gone for good."""
        self._doomed_blobs.append(blob_id)

    def commit(self) -> None:
        if not self._write:
            raise RuntimeError("a read-only unit of work cannot commit")
        if self._events:
            audit_store.append(self.session, self._events, now=self.c.clock.now())
        self.session.commit()
        self._committed = True
        for blob_id in self._doomed_blobs:
            self.c.blobs.delete(blob_id)
