"""Mechanics of a rule for one table, in SQL: what each feature's `expiry.py` builds on.

`table_expiry` finds the rows whose anchor is at or before the cutoff, a batch at a time
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers sweep without removing anything
twice; SQLite's single writer serialises them), and removes them with their blobs (deleted
after the commit, as the unit of work does for every deleted row).

The scan walks an index on (`seek`, key), from the oldest row up to the cutoff, and resumes
after the (seek, key) of the last row it saw: a sweep reads the expired rows (and those of
them it must skip: held, or kept by a post-filter), never the live ones, so its cost follows
what has expired, not the size of the table (bench/bench_retention.py measures the ratio).
`seek` is the anchor when the anchor is a column; when it is an expression (a coalesce, a
subquery) it is a column never later than it (the row's creation), so `seek <= cutoff` is a
necessary condition the index can serve and the anchor the exact one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, delete, select, tuple_

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
    seek: Any = None,
    subject: Any = None,
    blob: Any = None,
    where: Sequence[ColumnElement[bool]] = (),
    remove: Remover | None = None,
    post_filter: PostFilter | None = None,
    offered_as: str | None = None,
    floor: Floor | None = None,
) -> Expiry:
    """The mechanics of `rule` over `table`: rows with `anchor` <= cutoff go.

    `seek` (default: `anchor`, then a column) must be indexed together with `key`
    (`Index(seek, key)` in the table's `__table_args__`) and never be later than `anchor`.
    """
    return Expiry(
        rule=rule,
        category=category,
        what=what,
        find=_finder(
            table,
            key,
            _Scan(anchor, anchor if seek is None else seek),
            subject,
            blob,
            where,
            post_filter,
        ),
        remove=remove or delete_rows(table, key, blob_columns=(blob,) if blob is not None else ()),
        offered_as=offered_as,
        floor=floor,
    )


@dataclass(frozen=True)
class _Scan:
    """What a finder filters on (`anchor`) and walks in order (`seek`, then the key)."""

    anchor: Any
    seek: Any

    def conditions(self, cutoff: datetime) -> list[ColumnElement[bool]]:
        exact = [] if self.anchor is self.seek else [self.anchor <= cutoff]
        return [self.seek <= cutoff, *exact]


def _finder(
    table: Any,
    key: Any,
    scan: _Scan,
    subject: Any,
    blob: Any,
    where: Sequence[ColumnElement[bool]],
    post_filter: PostFilter | None,
) -> Finder:
    def find(uow: Any, cutoff: datetime, limit: int, after: Any) -> Batch:
        columns = [key, subject if subject is not None else key, scan.anchor, scan.seek]
        if blob is not None:
            columns.append(blob)
        q = select(*columns).where(*scan.conditions(cutoff), *where)
        if after is not None:
            # Keyset on (seek, key): the index range starts where the last batch ended.
            q = q.where(tuple_(scan.seek, key) > tuple(after))
        q = q.order_by(scan.seek, key).limit(limit).with_for_update(skip_locked=True, of=table)
        rows = uow.session.execute(q).all()
        found = [
            Found(
                key=r[0],
                subject=r[1] if subject is not None else None,
                anchor=r[2],
                blob_id=r[4] if blob is not None else None,
            )
            for r in rows
        ]
        if post_filter is not None:
            found = post_filter(uow, found)
        # A full batch may have more behind it: scan on from its last (seek, key).
        full = len(rows) == limit
        return Batch(found, resume_after=(rows[-1][3], rows[-1][0]) if full else None)

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
