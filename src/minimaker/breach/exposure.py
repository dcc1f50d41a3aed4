"""What was exposed in a breach, and what scoping found of it: the values the incident register
(breach/service.py) and scoping (breach/scope.py) exchange. Pure: no I/O.

An exposure names what an attacker had, never whom: the subjects are what scoping finds, from
the personal-data registry, the audit chain and the key store (policy 8; Art. 33(3)(a)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ExposureKind(StrEnum):
    """The kinds of exposure scoping understands."""

    #: Everything subjects' data underwent in [start, end): the audit entries naming a subject.
    WINDOW = "window"
    #: A staff account declared compromised: every subject it read from `start` (to `end`).
    STAFF_ACCOUNT = "staff_account"
    #: A set of blobs (by id): their owners, through the registry's blob columns.
    BLOBS = "blobs"
    #: A storage location ("database", "blobs", "backup:<file>"): everyone with data in it.
    LOCATION = "location"
    #: A key: "subject:<id>" (one data key) or "master:<kek id>" (every key it wrapped).
    KEY = "key"


@dataclass(frozen=True)
class Exposure:
    """One thing an attacker had. `ref` is the staff id, the location or the key reference;
    `blob_ids` the blobs; `start`/`end` bound the time (end None: until now)."""

    kind: ExposureKind
    start: datetime | None = None
    end: datetime | None = None
    ref: str = ""
    blob_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CategoryCount:
    """Approximate numbers for one category of the policy file (Art. 33(3)(a))."""

    category: str
    subjects: int
    records: int


@dataclass(frozen=True)
class Scope:
    """What scoping found: the affected subjects (ids, for the notices only: never audited or
    logged), per category the numbers of subjects and records, and whether everything exposed
    was encrypted under keys the breach did not reach (Art. 34(3)(a)), with the reason."""

    exposures: tuple[Exposure, ...]
    subject_ids: frozenset[str]
    categories: tuple[CategoryCount, ...]
    encrypted_under_uncompromised_keys: bool
    encryption_note: str
    computed_at: datetime
    notes: tuple[str, ...] = field(default=())

    @property
    def subjects(self) -> int:
        return len(self.subject_ids)

    @property
    def records(self) -> int:
        return sum(c.records for c in self.categories)
