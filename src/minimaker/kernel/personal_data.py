"""The personal-data registry: every table that holds a subject's data, declared once.

Each feature declares its tables next to them (`personal_data()` in its `tables.py`):
whose rows they are, their policy category, the blobs they point at, what erasure does to
them and why anything survives it, the archive section that shows them to their subject and
the privacy-centre count. Erasure, the access and portability archives, the privacy centre
and the leak tests all derive from it, so a table declared here is erased, exported and
counted with no other code, and a test fails on a table with a subject column left out.

Pure: the ORM classes and SQL conditions are held as opaque values (`Any`); the features'
storage code (rights/erasure.py, rights/archive_content.py) gives them meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class DeclarationError(ValueError):
    """A declaration contradicts itself or the registry (a programming error, found at build)."""


class Fate(StrEnum):
    """What an erasure does to the subject's rows of a table."""

    DELETE = "delete"  # the rows go (but those `survives` names, if any)
    SCRUB = "scrub"  # the rows stay as a pseudonymous record; the `scrub` columns become NULL
    KEEP = "keep"  # the rows stay untouched (they hold nothing but pseudonymous ids)


@dataclass(frozen=True)
class ArchiveFile:
    """A file of an archive: its path there and the blob it is decrypted from."""

    path: str
    blob_id: str
    size_bytes: int
    compressed: bool  # already compressed (photos, GLB): stored, not deflated again


@dataclass(frozen=True)
class Exported:
    """One section of an archive: JSON-ready data, and the files its entries point at."""

    data: Any
    files: tuple[ArchiveFile, ...] = ()


#: Reads one section for a subject: (unit of work, subject id) -> Exported.
Exporter = Callable[[Any, str], Exported]
#: Drops the entries of a section whose files were deleted while the archive was written.
Pruner = Callable[[Any, frozenset[str]], Any]
#: Deletes rows no owner column reaches (unit of work, subject id) -> rows deleted.
Forgetter = Callable[[Any, str], int]


@dataclass(frozen=True)
class Section:
    """Where a table's rows appear in the subject's access (and portability) archive."""

    name: str  # the key in data.json
    title: str  # its heading in index.html; "" when the page shows it elsewhere
    portable: bool = False  # Art. 20: provided by the subject, so in the portability archive
    exporter: Exporter | None = None  # None: the generic one (columns by owner, minus hidden)
    schema: Mapping[str, Any] | None = None  # JSON Schema of a portable custom section
    prune: Pruner | None = None  # for a section listing files


@dataclass(frozen=True)
class ViaParent:
    """The owner is reached through a parent row: this table's `link` names `parent.key`."""

    parent: Any  # the parent's ORM class
    link: str  # the column of this table that names the parent row
    owner: str  # the parent's owner column
    key: str = "id"


@dataclass(frozen=True)
class Noun:
    """What the privacy centre counts a table's rows as: "2 photos", "1 3D model"."""

    one: str
    many: str = ""

    def of(self, n: int) -> str:
        """The noun for `n` of them."""
        return self.one if n == 1 else (self.many or self.one + "s")


@dataclass(frozen=True)
class PersonalTable:
    """A table that holds a subject's data, and everything that follows from it."""

    table: Any  # the ORM class
    category: str  # a category of policy.yaml
    owner: str | ViaParent | None  # the subject's column; None: only `forget` reaches the rows
    fate: Fate = Fate.DELETE
    reason: str = ""  # why anything survives an erasure (required when something does)
    survives: Callable[[Any], Any] | None = None  # ORM class -> SQL condition of kept rows
    scrub: tuple[str, ...] = ()  # set to NULL on the rows that stay
    blobs: tuple[str, ...] = ()  # columns naming blobs, deleted with the rows
    hidden: tuple[str, ...] = ()  # never exported by the generic exporter (secrets, sealed)
    lock: bool = False  # erasure locks these rows first, so writers holding one finish
    forget: Forgetter | None = None  # deletes rows while the subject's key still exists
    section: Section | None = None
    exported_with: str = ""  # the table whose section carries these rows
    not_exported: str = ""  # why the archive leaves these rows out
    count: Noun | None = None  # shown in the privacy centre
    #: (uow, subject id) -> how many: counts rows the owner column cannot find (owner None)
    counter: Callable[[Any, str], int] | None = None
    #: (uow, subject ids) -> subject id -> how many: `counter` for many at once (scoping)
    counter_many: Callable[[Any, Collection[str]], Mapping[str, int]] | None = None

    @property
    def name(self) -> str:
        """The table's name in the database."""
        return str(self.table.__tablename__)

    @property
    def rows_survive(self) -> bool:
        """Whether some of the subject's rows outlive an erasure."""
        return self.fate is not Fate.DELETE or self.survives is not None

    def __post_init__(self) -> None:
        _check_erasure(self)
        _check_export(self)


@dataclass(frozen=True)
class NotPersonal:
    """A table that looks personal (a subject-like column, or a photo's blob) but is not
    erased, and why; `blobs` names the columns of blobs its rows keep (so no sweep takes them)."""

    table: Any
    reason: str
    blobs: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return str(self.table.__tablename__)

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise DeclarationError(f"{self.name}: a non-personal table needs its reason")


Declaration = PersonalTable | NotPersonal


def _check_erasure(d: PersonalTable) -> None:
    if not d.category:
        raise DeclarationError(f"{d.name}: no policy category")
    if d.owner is None and d.forget is None:
        raise DeclarationError(f"{d.name}: no owner column and nothing that forgets its rows")
    if d.count is not None and d.owner is None and d.counter is None:
        raise DeclarationError(f"{d.name}: counted, but no owner column or counter finds its rows")
    if d.rows_survive and not d.reason.strip():
        raise DeclarationError(f"{d.name}: rows survive erasure, so say why")
    if d.fate is Fate.SCRUB and not d.scrub:
        raise DeclarationError(f"{d.name}: a scrub names the columns it clears")
    if d.scrub and not d.rows_survive:
        raise DeclarationError(f"{d.name}: scrub columns, but no row survives to scrub")
    if d.fate is Fate.KEEP and d.scrub:
        raise DeclarationError(f"{d.name}: kept rows are not scrubbed (use Fate.SCRUB)")
    if d.lock and d.owner is None:
        raise DeclarationError(f"{d.name}: rows without an owner column cannot be locked")
    if d.blobs and d.rows_survive:
        raise DeclarationError(f"{d.name}: a row that names a blob cannot outlive the blob")


def _check_export(d: PersonalTable) -> None:
    ways = [d.section is not None, bool(d.exported_with), bool(d.not_exported.strip())]
    if sum(ways) != 1:
        raise DeclarationError(
            f"{d.name}: give exactly one of section, exported_with, not_exported (a reason)"
        )
    s = d.section
    if s is not None and s.portable and s.exporter is not None and s.schema is None:
        raise DeclarationError(f"{d.name}: a portable custom section publishes its schema")


class Registry:
    """Every declaration, in order; refuses duplicates and contradictions."""

    def __init__(self, declarations: Iterable[Declaration] = ()) -> None:
        self._all: dict[str, Declaration] = {}
        for d in declarations:
            if d.name in self._all:
                raise DeclarationError(f"{d.name} is declared twice")
            self._all[d.name] = d
        self._check()

    def __iter__(self) -> Iterator[Declaration]:
        return iter(self._all.values())

    def __contains__(self, name: object) -> bool:
        return name in self._all

    def __len__(self) -> int:
        return len(self._all)

    @property
    def names(self) -> frozenset[str]:
        """The names of every declared table, personal or not."""
        return frozenset(self._all)

    def get(self, name: str) -> Declaration:
        """The declaration of table `name`; LookupError names an undeclared table."""
        try:
            return self._all[name]
        except KeyError:
            raise LookupError(f"table {name} is not declared") from None

    def extended(self, *more: Declaration) -> Registry:
        """This registry with more declarations (a new feature's, or a test's)."""
        return Registry([*self, *more])

    @property
    def personal(self) -> tuple[PersonalTable, ...]:
        """The tables that hold a subject's data."""
        return tuple(d for d in self if isinstance(d, PersonalTable))

    @property
    def not_personal(self) -> tuple[NotPersonal, ...]:
        return tuple(d for d in self if isinstance(d, NotPersonal))

    def with_blobs(self) -> tuple[PersonalTable, ...]:
        """The personal tables whose rows name blobs."""
        return tuple(d for d in self.personal if d.blobs)

    def blob_columns(self) -> tuple[tuple[Any, str], ...]:
        """(table, column) of every blob a row of any declared table names, personal or not."""
        return tuple((d.table, name) for d in self for name in d.blobs)

    def deleted(self) -> tuple[PersonalTable, ...]:
        """The tables whose rows an erasure deletes through their owner (survivors aside)."""
        return tuple(d for d in self.personal if d.fate is Fate.DELETE and d.owner is not None)

    def scrubbed(self) -> tuple[PersonalTable, ...]:
        """The tables with columns an erasure clears on the rows that stay."""
        return tuple(d for d in self.personal if d.scrub)

    def forgetters(self) -> tuple[Forgetter, ...]:
        """What deletes rows no owner column reaches (run while the key still exists)."""
        return tuple(d.forget for d in self.personal if d.forget is not None)

    def locked(self) -> tuple[PersonalTable, ...]:
        return tuple(d for d in self.personal if d.lock)

    def sections(self, *, portable_only: bool = False) -> tuple[PersonalTable, ...]:
        """The tables with a section of their own: the portable ones first, then the rest."""
        own = [d for d in self.personal if d.section is not None]
        portable = [d for d in own if d.section and d.section.portable]
        rest = [d for d in own if d.section and not d.section.portable]
        return (*portable, *([] if portable_only else rest))

    def counted(self) -> tuple[PersonalTable, ...]:
        """The tables the privacy centre counts, in order."""
        return tuple(d for d in self.personal if d.count is not None)

    def categories(self) -> set[str]:
        return {d.category for d in self.personal}

    def _check(self) -> None:
        sections = [d.section.name for d in self.personal if d.section]
        if len(sections) != len(set(sections)):
            raise DeclarationError("two tables claim the same archive section")
        counts = [d.count.one for d in self.personal if d.count]
        if len(counts) != len(set(counts)):
            raise DeclarationError("two tables are counted under the same noun")
        for d in self.personal:
            self._check_links(d)

    def _check_links(self, d: PersonalTable) -> None:
        if isinstance(d.owner, ViaParent):
            parent = self._all.get(str(d.owner.parent.__tablename__))
            if not isinstance(parent, PersonalTable):
                raise DeclarationError(f"{d.name}: its parent table is not declared personal")
        carrier = d
        if d.exported_with:
            found = self._all.get(d.exported_with)
            if not isinstance(found, PersonalTable) or found.section is None:
                raise DeclarationError(f"{d.name}: exported with an undeclared section")
            carrier = found
        if d.blobs and carrier.section is not None and carrier.section.prune is None:
            raise DeclarationError(f"{d.name}: its files are exported, so its section prunes")


def iso(moment: datetime | None) -> str | None:
    """A timestamp as archives write it (ISO 8601), or None."""
    return moment.isoformat() if moment is not None else None


# --- JSON Schema pieces, shared by the sections that publish their schema ----------------

#: A timestamp (or null) in a JSON Schema.
SCHEMA_TIME: Mapping[str, Any] = {"type": ["string", "null"], "format": "date-time"}
#: One of our ids in a JSON Schema.
SCHEMA_ID: Mapping[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{32}$"}


def schema_object(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A closed JSON Schema object whose every property is required."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": sorted(properties),
        "additionalProperties": False,
    }


def schema_array(items: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON Schema array of `items`."""
    return {"type": "array", "items": dict(items)}
