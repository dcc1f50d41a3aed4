"""The SQL of a personal-data declaration: which rows are the subject's, which an erasure
deletes or scrubs, and which subjects still have such rows.

Every condition goes by the declaration's owner column, or by its parent's through the link
column, both indexed, so a statement's cost follows the subject's own rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Delete, Select, Update, delete, exists, false, func, or_, select, update

from minimaker.kernel.personal_data import Fate, PersonalTable, ViaParent


def owned(d: PersonalTable, subject_id: str) -> Any:
    """The condition selecting the subject's rows of `d`."""
    if isinstance(d.owner, ViaParent):
        via = d.owner
        parents = select(getattr(via.parent, via.key)).where(
            getattr(via.parent, via.owner) == subject_id
        )
        return getattr(d.table, via.link).in_(parents)
    if d.owner is None:
        return false()  # rows only the declaration's `forget` reaches
    return getattr(d.table, d.owner) == subject_id


def count(d: PersonalTable, subject_id: str) -> Select[Any]:
    """How many rows of `d` are the subject's."""
    return select(func.count()).select_from(d.table).where(owned(d, subject_id))


def deletion(d: PersonalTable, subject_id: str) -> Delete:
    """Delete the subject's rows of `d`, but those its declaration says survive."""
    stmt = delete(d.table).where(owned(d, subject_id))
    if d.survives is not None:
        stmt = stmt.where(~d.survives(d.table))
    return stmt


def scrubbing(d: PersonalTable, subject_id: str) -> Update:
    """Clear the scrub columns of the subject's rows of `d` that still hold something."""
    columns = [getattr(d.table, name) for name in d.scrub]
    return (
        update(d.table)
        .where(owned(d, subject_id), or_(*[col.is_not(None) for col in columns]))
        .values({col: None for col in columns})
    )


def _left_to_erase(d: PersonalTable) -> list[Any]:
    """Conditions on `d`'s rows that an erasure would still delete or scrub."""
    if d.fate is Fate.DELETE and d.survives is None:
        return []  # every row of the subject is still to go
    left = [getattr(d.table, name).is_not(None) for name in d.scrub]
    if d.fate is Fate.DELETE and d.survives is not None:
        left.append(~d.survives(d.table))
    return [or_(*left)]


def probe(d: PersonalTable, subject_ids: Sequence[str]) -> Select[Any] | None:
    """Which of `subject_ids` still have rows of `d` an erasure removes; None if none can."""
    if d.owner is None or d.fate is Fate.KEEP:
        return None
    ids = list(subject_ids)
    if isinstance(d.owner, ViaParent):
        via = d.owner
        owner = getattr(via.parent, via.owner)
        child = exists().where(
            getattr(d.table, via.link) == getattr(via.parent, via.key), *_left_to_erase(d)
        )
        return select(owner).where(owner.in_(ids), child).distinct()
    owner = getattr(d.table, d.owner)
    return select(owner).where(owner.in_(ids), *_left_to_erase(d)).distinct()


def blob_ids(d: PersonalTable, subject_id: str) -> list[Select[Any]]:
    """A query per blob column of `d`: the blobs the subject's rows name."""
    return [select(getattr(d.table, c)).where(owned(d, subject_id)) for c in d.blobs]


def lock(d: PersonalTable, subject_id: str) -> Select[Any]:
    """Lock the subject's rows of `d` (PostgreSQL), waiting for writers that hold one."""
    name = d.owner.link if isinstance(d.owner, ViaParent) else d.owner
    return select(getattr(d.table, str(name))).where(owned(d, subject_id)).with_for_update()
