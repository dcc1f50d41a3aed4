"""What a restore takes from the database it replaces: the records of what happened since.

A backup brings back the service's state (accounts, photos, models, sessions...). It must not
take back the record of what happened after it (docs/decisions/0013): the rights requests
received or answered since, with their deadlines and every step (Art. 12, Art. 5(2)); the
links already sent (a used single-use link stays used); the archives that answered them; the
disclosure log (Art. 19); the outbox, so that nothing already sent is sent again and mail an
erasure removed stays removed; the fulfilment jobs of those requests; and the audit chain,
which stays as it is and goes on with the restore's own entry.

That holds when the database being replaced is the backup's own future: its audit chain
continues the backup's (`ChainMode.KEEP`). When it is behind the backup (an emptied database,
an older copy), the backup is the newer record and is taken whole (`TAKE`). A chain that
continues neither way (another installation's backup, or a damaged chain) is `DIVERGED`:
the restore refuses unless the operator replaces the chain knowingly.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, bindparam, select, text, tuple_

from minimaker.adapters.db import Base

#: The audit chain's tables: kept in place, never replaced, when the chain continues.
AUDIT_TABLES = ("audit_log", "audit_head")
_CHUNK = 500


@dataclass(frozen=True)
class Carried:
    """A table (or part of one) a restore takes from the current database, and why."""

    table: str
    reason: str
    only: Callable[[Table], ColumnElement[bool]] | None = None  # the part; None: every row
    blobs: tuple[str, ...] = ()  # blob columns: their blobs stay in the store


def _fulfilment(t: Table) -> ColumnElement[bool]:
    return t.c.kind == "fulfil_request"


#: Parents before children. Each is a record of what happened, not state to roll back.
CARRIED: tuple[Carried, ...] = (
    Carried("rights_requests", "Art. 12: every request received, its deadline and status"),
    Carried("request_events", "Art. 5(2): each step of a request, as the subject saw it"),
    Carried("verification_tokens", "a link sent stays valid; a link used once stays used"),
    Carried("archive_links", "a link sent stays valid; a link used once stays used"),
    Carried(
        "archives",
        "an answered access request keeps its archive; an expired one stays gone",
        blobs=("blob_id",),
    ),
    Carried("disclosures", "Art. 19: whom the data was given to is a fact, not state"),
    Carried("outbox", "what was sent is not sent again; mail an erasure removed stays gone"),
    Carried("jobs", "the fulfilment of the requests kept", only=_fulfilment),
)


class ChainMode(enum.Enum):
    """How the current audit chain stands to the backup's."""

    KEEP = "kept"  # it continues the backup's chain: kept, and the records carried
    TAKE = "taken"  # it is a prefix of the backup's (or empty): the backup's is taken
    DIVERGED = "replaced"  # neither: replaced only when the operator says so


@dataclass
class Records:
    """The carried rows read from the current database before it is replaced."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def blob_ids(self) -> set[str]:
        return {
            str(row[col])
            for spec in CARRIED
            for col in spec.blobs
            for row in self.rows.get(spec.table, [])
            if row[col] is not None
        }

    def count(self, table: str, **where: Any) -> int:
        rows = self.rows.get(table, [])
        return sum(1 for r in rows if all(r[k] == v for k, v in where.items()))


def table(name: str) -> Table:
    """A table of the data database by name; KeyError names a declaration gone stale."""
    return Base.metadata.tables[name]


def chain_mode(conn: Connection, backup_head: tuple[int, str]) -> tuple[ChainMode, int, str]:
    """KEEP when the current chain holds the backup's head at its seq; else TAKE (decided
    finally by `continues_backup` once the backup's chain is loaded). With the current head."""
    head = conn.execute(text("SELECT seq, hash FROM audit_head")).one_or_none()
    seq, digest = (0, "") if head is None else (int(head.seq), str(head.hash))
    b_seq, b_hash = backup_head
    if seq >= b_seq:
        at = conn.execute(text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": b_seq})
        stored = at.scalar_one_or_none()
        same = b_seq == 0 or stored == b_hash
        return (ChainMode.KEEP if same else ChainMode.DIVERGED), seq, digest
    return ChainMode.TAKE, seq, digest


def continues_backup(conn: Connection, seq: int, digest: str) -> bool:
    """After the backup's chain is loaded: did the replaced chain end inside it?"""
    if seq == 0:
        return True
    at = conn.execute(text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": seq})
    return at.scalar_one_or_none() == digest


def read(conn: Connection) -> Records:
    """Every carried row of the current database, before it is replaced."""
    found = Records()
    for spec in CARRIED:
        t = table(spec.table)
        query = select(t) if spec.only is None else select(t).where(spec.only(t))
        found.rows[spec.table] = [dict(r) for r in conn.execute(query).mappings()]
    return found


def put_back(conn: Connection, records: Records) -> dict[str, int]:
    """Make each carried part exactly as it was before the restore; rows kept, per table.

    Rows are updated in place, inserted or deleted by primary key (never deleted and
    re-inserted), so no ON DELETE CASCADE reaches rows of the backup that point at them.
    """
    pks: dict[str, tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]] = {}
    for spec in CARRIED:
        t = table(spec.table)
        loaded = set(_keys(conn, t, spec.only))
        current = {_key(t, row) for row in records.rows[spec.table]}
        pks[spec.table] = (loaded, current)
    for spec in reversed(CARRIED):  # children first: rows the live database no longer had
        t = table(spec.table)
        loaded, current = pks[spec.table]
        _delete(conn, t, sorted(loaded - current))
    for spec in CARRIED:  # parents first: rows as the live database had them
        t = table(spec.table)
        loaded, _current = pks[spec.table]
        rows = records.rows[spec.table]
        _update(conn, t, [r for r in rows if _key(t, r) in loaded])
        fresh = [r for r in rows if _key(t, r) not in loaded]
        if fresh:
            conn.execute(t.insert(), fresh)
    return {spec.table: len(records.rows[spec.table]) for spec in CARRIED}


def _key(t: Table, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c.name] for c in t.primary_key.columns)


def _keys(
    conn: Connection, t: Table, only: Callable[[Table], ColumnElement[bool]] | None
) -> list[tuple[Any, ...]]:
    query = select(*t.primary_key.columns)
    if only is not None:
        query = query.where(only(t))
    return [tuple(r) for r in conn.execute(query)]


def _delete(conn: Connection, t: Table, keys: Sequence[tuple[Any, ...]]) -> None:
    cols = list(t.primary_key.columns)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        conn.execute(t.delete().where(tuple_(*cols).in_(chunk)))


def _update(conn: Connection, t: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    pk = [c.name for c in t.primary_key.columns]
    where = and_(*(t.c[name] == bindparam(f"pk_{name}") for name in pk))
    values: dict[str, Any] = {
        c.name: bindparam(f"v_{c.name}") for c in t.columns if c.name not in pk
    }
    if not values:
        return  # nothing but the key: the row is already as it was
    params = [{**{f"pk_{k}": r[k] for k in pk}, **{f"v_{k}": r[k] for k in values}} for r in rows]
    conn.execute(t.update().where(where).values(values), params)


@dataclass(frozen=True)
class RolledBack:
    """One table's rows the restore took back: made since the backup, and brought back."""

    removed: int
    returned: int


def survey(conn: Connection) -> dict[str, set[tuple[Any, ...]]]:
    """The primary keys of every table a restore rolls back (not the records, not audit)."""
    skip = {spec.table for spec in CARRIED if spec.only is None} | set(AUDIT_TABLES)
    keys: dict[str, set[tuple[Any, ...]]] = {}
    for t in Base.metadata.sorted_tables:
        if t.name in skip:
            continue
        spec = next((s for s in CARRIED if s.table == t.name), None)
        keys[t.name] = set(_keys(conn, t, None if spec is None else _not(spec.only)))
    return keys


def _not(
    only: Callable[[Table], ColumnElement[bool]] | None,
) -> Callable[[Table], ColumnElement[bool]] | None:
    if only is None:
        return None
    return lambda t: ~only(t)


def rolled_back(
    before: dict[str, set[tuple[Any, ...]]], after: dict[str, set[tuple[Any, ...]]]
) -> dict[str, RolledBack]:
    """Per table that changed: rows gone (made since the backup) and rows brought back."""
    changes = {
        name: RolledBack(len(before[name] - after[name]), len(after[name] - before[name]))
        for name in before
    }
    return {name: ch for name, ch in changes.items() if ch.removed or ch.returned}
