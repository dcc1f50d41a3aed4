"""Mechanics of a rule for one table, in SQL: what each feature's `expiry.py` builds on.

`table_expiry` finds the rows whose anchor is at or before the cutoff, by key, a batch at a
time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers sweep without removing
anything twice; SQLite's single writer serialises them), and removes them with their blobs
(deleted after the commit, as the unit of work does for every deleted row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, delete, select

from minimaker.kernel.retention import Batch, Expiry, Finder, Floor, Found, Remover

#: Keeps only the found items still due (a check SQL cannot make: a file on disk).
PostFilter = Callable[[Any, list[Found]], list[Found]]


def table_expiry(
    *,
    rule: str,
    category: str,
    what: str,
    table: Any,
    key: Any,
    anchor: Any,
    subject: Any = None,
    blob: Any = None,
    where: Sequence[ColumnElement[bool]] = (),
    remove: Remover | None = None,
    post_filter: PostFilter | None = None,
    offered_as: str | None = None,
    floor: Floor | None = None,
) -> Expiry:
    """The mechanics of `rule` over `table`: rows with `anchor` <= cutoff go."""
    return Expiry(
        rule=rule,
        category=category,
        what=what,
        find=_finder(table, key, anchor, subject, blob, where, post_filter),
        remove=remove or delete_rows(table, key, blob_columns=(blob,) if blob is not None else ()),
        offered_as=offered_as,
        floor=floor,
    )


def _finder(
    table: Any,
    key: Any,
    anchor: Any,
    subject: Any,
    blob: Any,
    where: Sequence[ColumnElement[bool]],
    post_filter: PostFilter | None,
) -> Finder:
    def find(uow: Any, cutoff: datetime, limit: int, after: Any) -> Batch:
        columns = [key, subject if subject is not None else key, anchor]
        if blob is not None:
            columns.append(blob)
        q = select(*columns).where(anchor <= cutoff, *where)
        if after is not None:
            q = q.where(key > after)
        q = q.order_by(key).limit(limit).with_for_update(skip_locked=True, of=table)
        rows = uow.session.execute(q).all()
        found = [
            Found(
                key=r[0],
                subject=r[1] if subject is not None else None,
                anchor=r[2],
                blob_id=r[3] if blob is not None else None,
            )
            for r in rows
        ]
        if post_filter is not None:
            found = post_filter(uow, found)
        # A full batch may have more behind it: scan on from its last key.
        return Batch(found, resume_after=rows[-1][0] if len(rows) == limit else None)

    return find


def delete_rows(table: Any, key: Any, *, blob_columns: Sequence[Any] = ()) -> Remover:
    """A remover deleting `table`'s rows by `key`, and after the commit the blobs they name."""

    def remove(uow: Any, keys: Sequence[Any]) -> int:
        if not keys:
            return 0
        for column in blob_columns:
            for blob_id in uow.session.scalars(select(column).where(key.in_(keys))):
                uow.delete_blob_after_commit(blob_id)
        result = uow.session.execute(delete(table).where(key.in_(keys)))
        return rowcount(result)

    return remove


def rowcount(result: Any) -> int:
    """The rows a DML statement touched."""
    return int(result.rowcount) if isinstance(result, CursorResult) else 0
