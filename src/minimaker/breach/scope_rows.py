"""The subjects' rows, as the personal-data registry declares them: who owns what, per category.

Scoping counts every table the registry holds (kernel/personal_data.py), by its owner column
or its parent's, so a table a feature declares tomorrow is counted with no code here; tables
no owner column reaches are counted by their declaration's `counter_many` (all the subjects
at once) or else its `counter`, one subject at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select

from minimaker.kernel.errors import ValidationFailed
from minimaker.kernel.personal_data import PersonalTable, Registry, ViaParent
from minimaker.kernel.unit_of_work import UnitOfWork

#: Most blob ids one exposure may name (a request stays bounded; split larger sets).
MAX_BLOBS = 100_000
#: Most subjects whose rows a per-subject `counter` counts one by one (about 5 ms each on
#: PostgreSQL): beyond it those tables are named in the notes, not counted.
COUNTER_LIMIT = 100
#: Ids per IN list: far under every driver's limit on bound parameters.
CHUNK = 500


class ExposureInvalid(ValidationFailed):
    """An exposure scoping cannot read: what is wrong with it, never whose data it names."""

    code = "exposure_invalid"


@dataclass
class Found:
    """What one exposure reached: the subjects, and per category the records of each."""

    subjects: set[str] = field(default_factory=set)
    #: category -> subject id -> records of that category the exposure reached.
    records: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    notes: list[str] = field(default_factory=list)

    def add(self, category: str, subject_id: str, n: int) -> None:
        """Note `n` records of `category` of a subject (the larger count wins)."""
        if n > 0:
            per = self.records[category]
            per[subject_id] = max(per.get(subject_id, 0), n)

    def merge(self, other: Found) -> None:
        self.subjects |= other.subjects
        for category, per in other.records.items():
            for subject_id, n in per.items():
                self.add(category, subject_id, n)
        self.notes += other.notes


class Finding:
    """One exposure's result: what it reached, and whether encryption still protects it
    (Art. 34(3)(a)), with the reason in plain words."""

    def __init__(self, found: Found, *, encrypted: bool, why: str) -> None:
        self.found, self.encrypted, self.why = found, encrypted, why


def chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    """The ids in sorted lists of at most CHUNK."""
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i : i + CHUNK]


def owner_query(d: PersonalTable, *columns: Any) -> tuple[Select[Any], Any]:
    """SELECT (owner, *columns) over `d`'s rows, and the owner expression to filter on."""
    if isinstance(d.owner, ViaParent):
        via = d.owner
        owner = getattr(via.parent, via.owner)
        link = getattr(d.table, via.link) == getattr(via.parent, via.key)
        return select(owner, *columns).select_from(d.table).join(via.parent, link), owner
    owner = getattr(d.table, str(d.owner))
    return select(owner, *columns).select_from(d.table), owner


def owned_tables(registry: Registry) -> tuple[PersonalTable, ...]:
    """The personal tables whose rows an owner column (theirs or a parent's) reaches."""
    return tuple(d for d in registry.personal if d.owner is not None)


def every_owner(uow: UnitOfWork, registry: Registry) -> set[str]:
    """Every subject with a row in any table an owner column reaches."""
    found: set[str] = set()
    for d in owned_tables(registry):
        query, owner = owner_query(d)
        found.update(str(s) for s in uow.session.scalars(query.with_only_columns(owner).distinct()))
    return found


def count_rows(uow: UnitOfWork, registry: Registry, subject_ids: Iterable[str]) -> Found:
    """Every row of the subjects, per category: what an exposure of all their data reaches."""
    wanted = set(subject_ids)
    found = Found(subjects=set(wanted))
    for d in registry.personal:
        if d.owner is not None:
            _count_owned(uow, d, wanted, found)
        elif d.counter_many is not None:
            for subject_id, n in d.counter_many(uow, wanted).items():
                found.add(d.category, subject_id, int(n))
        elif d.counter is not None and len(wanted) <= COUNTER_LIMIT:
            for subject_id in sorted(wanted):
                found.add(d.category, subject_id, int(d.counter(uow, subject_id)))
        elif d.counter is not None:
            found.notes.append(
                f"rows of {d.name} ({d.category}) are found one subject at a time: with "
                f"{len(wanted)} subjects (over {COUNTER_LIMIT}) they are not counted"
            )
        else:
            found.notes.append(
                f"rows of {d.name} ({d.category}) name no owner scoping can follow "
                "(keyed hashes): not counted"
            )
    _note_without_data(found, wanted)
    return found


def _count_owned(uow: UnitOfWork, d: PersonalTable, wanted: set[str], found: Found) -> None:
    query, owner = owner_query(d, func.count())
    for chunk in chunks(wanted):
        rows = uow.session.execute(query.where(owner.in_(chunk)).group_by(owner))
        for subject_id, n in rows:
            found.add(d.category, str(subject_id), int(n))


def _note_without_data(found: Found, wanted: set[str]) -> None:
    with_data = {s for per in found.records.values() for s in per}
    gone = len(wanted - with_data)
    if gone:
        found.notes.append(
            f"{gone} affected subject(s) have no data left here (erased or closed since): "
            "they are counted as subjects, with no records"
        )
