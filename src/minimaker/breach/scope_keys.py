"""Scoping a key exposure: whose data a data key or a master key opens (Art. 34(3)(a)).

The key store (adapters/keystore.py) holds each subject's data key wrapped by the master key
and the id (`kek_id`) of the master key that wraps it now; a rotation (operations/
key_rotation.py) re-wraps every key and is audited by the new key's id. So the audit's
rotations say which master key was in force when, and the keys' creation times say which of
them a retired master key once wrapped. Neither store ever holds a master key itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.keystore import SubjectKey
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound
from minimaker.kernel.ids import is_id
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.operations import events as operations_events

KEK_ID = re.compile(r"[0-9a-f]{16}")
_ROTATED = str(operations_events.MASTER_KEY_ROTATED)
_PREFIX = "master_key:"


@dataclass(frozen=True)
class Rotation:
    """A master-key rotation as the audit holds it: when, and the id of the key it put in."""

    at: datetime
    kek_id: str


def rotations(uow: UnitOfWork) -> list[Rotation]:
    """Every master-key rotation, oldest first (the operator's command: actor system:cli,
    found through the actor index rather than a scan of the whole chain)."""
    query = (
        select(AuditEntry.ts, AuditEntry.object)
        .where(AuditEntry.actor == str(SYSTEM_CLI), AuditEntry.action == _ROTATED)
        .order_by(AuditEntry.seq)
    )
    found = []
    for ts, obj in uow.session.execute(query):
        if obj and obj.startswith(_PREFIX):
            found.append(Rotation(datetime.fromisoformat(ts), obj.removeprefix(_PREFIX)))
    return found


def rotated_since(uow: UnitOfWork, moment: datetime) -> list[Rotation]:
    """The rotations after `moment` (a backup's time, say)."""
    return [r for r in rotations(uow) if r.at > moment]


@dataclass(frozen=True)
class MasterReach:
    """The subjects whose data keys a master key wraps, or once wrapped, and why."""

    subject_ids: frozenset[str]
    note: str


def master_reach(c: Container, uow: UnitOfWork, kek_id: str) -> MasterReach:
    """Whose data keys master key `kek_id` wraps now or wrapped before it was rotated away;
    NotFound for a key id neither the key store nor the audit's rotations know."""
    current = c.master.kek_id
    if kek_id == current:
        ids = _keys(c, kek_id=kek_id)
        return MasterReach(ids, "the master key in use: it unwraps every data key of the store")
    done = rotations(uow)
    named = [i for i, r in enumerate(done) if r.kek_id == kek_id]
    if named:
        i = named[-1]
        retired = done[i + 1].at if i + 1 < len(done) else None
        if retired is None:  # the audit's last rotation put in a key that is no longer in use
            return MasterReach(_keys(c), _retired_note(None))
        return MasterReach(_keys(c, before=retired), _retired_note(retired))
    if done:
        # The audit names each key a rotation put in, not the one in force before the first.
        return MasterReach(
            _keys(c, before=done[0].at),
            "not named by any rotation, so taken to be the master key in force before the "
            f"first rotation ({done[0].at.isoformat()}): " + _retired_note(done[0].at),
        )
    raise NotFound("master key")


def _retired_note(retired: datetime | None) -> str:
    when = retired.isoformat() if retired is not None else "a later rotation"
    return (
        f"a retired master key (rotated away at {when}): it unwraps the data keys that "
        "existed while it was in force, but only in a copy of the key store taken before "
        "then (the key store is in no backup)"
    )


def _keys(
    c: Container, *, kek_id: str | None = None, before: datetime | None = None
) -> frozenset[str]:
    query = select(SubjectKey.subject_id)
    if kek_id is not None:
        query = query.where(SubjectKey.kek_id == kek_id)
    if before is not None:
        query = query.where(SubjectKey.created_at < before)
    with Session(c.key_engine) as session:
        return frozenset(str(s) for s in session.scalars(query))


def subject_key_exists(c: Container, subject_id: str) -> bool:
    """Whether the subject's data key still exists (a malformed id never reaches the store)."""
    return is_id(subject_id) and c.keys.has_subject_key(subject_id)
