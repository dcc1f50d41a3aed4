"""The unit of work: one transaction in which rows, audit events and blob writes succeed or
vanish together."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from minimaker.adapters import audit_chain as audit_store
from minimaker.adapters.db import WRITE_OPTION
from minimaker.kernel.actors import Actor
from minimaker.kernel.audit import AuditEvent, AuditTag, anchors
from minimaker.kernel.audit import CheckpointKind as Kind
from minimaker.kernel.errors import IntegrityError, StorageUnavailable
from minimaker.kernel.faults import crash_point
from minimaker.kernel.purposes import Purpose

if TYPE_CHECKING:
    from minimaker.adapters.checkpoints import Checkpoint
    from minimaker.kernel.container import Container

log = logging.getLogger("minimaker.audit")


class UnitOfWork:
    """One transaction: rows, audit events and blob writes succeed or vanish together."""

    def __init__(self, container: Container, *, write: bool = True) -> None:
        self.c = container
        self._write = write
        self._events: list[AuditEvent] = []
        self._standing: list[AuditEvent] = []  # refusals: recorded even if the unit rolls back
        self._new_blobs: list[str] = []
        self._new_keys: list[str] = []
        self._doomed_blobs: list[str] = []
        self._committed = False
        self._restored: int | None = None
        #: The checkpoint this unit's commit took, if it audited a sensitive operation.
        self.checkpoint: Checkpoint | None = None

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
                self._record_standing()
                # Blobs written for work that did not commit must not outlive it.
                for blob_id in self._new_blobs:
                    self._delete_blob(blob_id)
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
        """Record an audit event; it is chained in the same transaction, at commit."""
        self._events.append(_event(action, actor, subject, object, purpose))

    def audit_refusal(
        self,
        action: AuditTag,
        *,
        actor: Actor,
        subject: str | None = None,
        object: str | None = None,
        purpose: Purpose | None = None,
    ) -> None:
        """Record a refusal: it stands in the audit whether or not this unit commits.

        A refused use case raises and so rolls its unit back; the record that something was
        refused must not vanish with it (accountability, Art. 5(2)).
        """
        self._standing.append(_event(action, actor, subject, object, purpose))

    def _record_standing(self) -> None:
        if not self._standing:
            return
        with self.c.sessions() as session:
            session.connection(execution_options={WRITE_OPTION: True})
            audit_store.append(session, self._standing, now=self.c.clock.now())
            session.commit()

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

    def record_restore(self, restored: int) -> None:
        """This unit replaces the chain with a backup's `restored` entries: its commit takes
        a signed restore checkpoint, so verify reports a recorded restore, not a cut."""
        self._restored = restored

    def commit(self) -> None:
        if not self._write:
            raise RuntimeError("a read-only unit of work cannot commit")
        if self._events or self._standing:
            recorded = [*self._standing, *self._events]
            audit_store.append(self.session, recorded, now=self.c.clock.now())
        self.session.commit()
        self._committed = True
        crash_point("unit.committed")  # the rows are durable; the doomed blobs still on disk
        for blob_id in self._doomed_blobs:
            self._delete_blob(blob_id)
        self._anchor()

    def _delete_blob(self, blob_id: str) -> None:
        """Delete a blob no row will name; a store out of reach leaves it to the sweep (it
        removes blobs no row names, operations/sweep.py), never failing the unit's outcome."""
        try:
            self.c.blobs.delete(blob_id)
        except StorageUnavailable:
            log.warning("blob store unavailable: an unnamed blob is left to the sweep")

    def _anchor(self) -> None:
        # One place takes the checkpoints of sensitive operations, right after their entries
        # are durable: no use case can forget to, or sign before its own entry is in.
        if self._restored is not None:
            self.checkpoint = self.c.checkpoint(Kind.RESTORE, restored=self._restored)
            return
        if not any(anchors(e, self.c.anchored_actions) for e in self._events):
            return
        try:
            self.checkpoint = self.c.checkpoint(Kind.EVENT)
        except IntegrityError as exc:
            # The work is committed and audited; refusing to sign a chain that lost anchored
            # entries is the alarm, and `audit verify` names what happened to it.
            log.error("audit checkpoint not taken: %s", exc.message)
        except OSError as exc:  # the checkpoint file cannot be written: say so, loudly
            log.error("audit checkpoint not taken: checkpoint file: %s", exc.strerror)


def _event(
    action: AuditTag, actor: Actor, subject: str | None, object: str | None, purpose: Any
) -> AuditEvent:
    # The tag comes from a feature's events.py and the actor is a value, never a string typed
    # here; the purpose is the tag's own unless the caller names the one it checked.
    if not isinstance(action, AuditTag) or not isinstance(actor, Actor):
        raise TypeError("audit takes an AuditTag and an Actor (see kernel/actors.py)")
    chosen = action.purpose if purpose is None else Purpose(purpose)
    return AuditEvent(str(actor), str(action), subject, object, chosen.value)
