"""The personal-data registry: every table with a subject's data is declared, once, and a
table declared there is erased, exported and counted with no other code."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from minimaker import bootstrap
from minimaker.accounts import service as accounts
from minimaker.accounts.tables import User
from minimaker.adapters.db import UTCDateTime
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.kernel.personal_data import (
    DeclarationError,
    Exported,
    Fate,
    NotPersonal,
    Noun,
    PersonalTable,
    Registry,
    Section,
    ViaParent,
)
from minimaker.rights import access, erasure, holdings, intake
from tests.rights.test_access import validate

#: Column names that say "this row is somebody's".
_SUBJECT_LIKE = re.compile(r"(^|_)(subject|owner|user|staff|person|customer)(_id)?$")


def undeclared(metadata: MetaData, registry: Registry) -> list[str]:
    """Tables that look personal but are not declared, either way, in the registry."""
    personal = {d.name for d in registry.personal}
    found = []
    for table in metadata.sorted_tables:
        subject_like = any(_SUBJECT_LIKE.search(c.name) for c in table.columns)
        points_at_personal = any(
            fk.column.table.name in personal | {"users"} for fk in table.foreign_keys
        )
        if (subject_like or points_at_personal) and table.name not in registry:
            found.append(table.name)
    return sorted(found)


def test_every_table_with_a_subject_column_is_declared_personal_or_not_with_a_reason() -> None:
    registry = bootstrap.personal_data()
    assert undeclared(bootstrap.metadata(), registry) == []
    assert all(d.reason.strip() for d in registry.not_personal)
    # The walk really looked: every table of the schema is known to the registry or plain.
    assert {d.name for d in registry} <= set(bootstrap.metadata().tables)


def test_a_new_table_with_a_subject_column_left_undeclared_fails_the_walk() -> None:
    throwaway = MetaData()
    for table in bootstrap.metadata().sorted_tables:
        table.to_metadata(throwaway)
    Table("stickers", throwaway, Column("owner_id", String(32)))
    Table("sticker_notes", throwaway, Column("id", Integer, primary_key=True))
    Table(
        "model_tags",
        throwaway,
        Column("model_id", String(32), ForeignKey("models.id")),
        Column("tag", String(16)),
    )
    assert undeclared(throwaway, bootstrap.personal_data()) == ["model_tags", "stickers"]


def test_every_declared_table_is_part_of_the_schema() -> None:
    tables = bootstrap.metadata().tables
    for d in bootstrap.personal_data():
        assert d.name in tables, d.name


def test_every_named_column_of_a_declaration_exists_on_its_table() -> None:
    for d in bootstrap.personal_data().personal:
        columns = set(d.table.__table__.columns.keys())
        named = {*d.scrub, *d.blobs, *d.hidden}
        if isinstance(d.owner, str):
            named.add(d.owner)
        if isinstance(d.owner, ViaParent):
            named.add(d.owner.link)
            assert d.owner.owner in d.owner.parent.__table__.columns
        assert named <= columns, (d.name, named - columns)


def test_every_owner_column_is_the_first_column_of_an_index() -> None:
    # Erasure, its replay and the privacy centre look rows up by owner: never a full scan.
    for d in bootstrap.personal_data().personal:
        if d.owner is None:
            continue
        column = d.owner.link if isinstance(d.owner, ViaParent) else d.owner
        table = d.table.__table__
        leading = {next(iter(ix.columns)).name for ix in table.indexes}
        leading |= {next(iter(table.primary_key.columns)).name}
        unique = [u for u in table.constraints if isinstance(u, UniqueConstraint)]
        leading |= {next(iter(u.columns)).name for u in unique}
        leading |= {c.name for c in table.columns if c.unique or c.index}
        assert column in leading, d.name


# --- the registry refuses what contradicts itself ---------------------------------------


class _Base(DeclarativeBase):
    """A base of its own: the project's schema stays what the migrations make."""


class Sticker(_Base):
    """A table the project does not have: a subject's stickers, one sealed column."""

    __tablename__ = "test_stickers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_id: Mapped[str] = mapped_column(String(32), index=True)
    label: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())


STICKERS = PersonalTable(
    Sticker,
    category="account",
    owner="owner_id",
    hidden=("sealed",),
    section=Section("stickers", "Your stickers", portable=True),
    count=Noun("sticker"),
)


def test_a_table_declared_twice_is_refused() -> None:
    registry = bootstrap.personal_data()
    with pytest.raises(DeclarationError, match="declared twice"):
        registry.extended(STICKERS, NotPersonal(Sticker, reason="changed my mind"))


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"fate": Fate.KEEP}, "say why"),
        ({"survives": lambda t: t.label == "x"}, "say why"),
        ({"fate": Fate.SCRUB, "reason": "a record"}, "names the columns"),
        ({"blobs": ("label",), "fate": Fate.SCRUB, "scrub": ("label",), "reason": "r"}, "blob"),
        ({"section": None}, "exactly one"),
        ({"not_exported": "twice over"}, "exactly one"),
        ({"owner": None}, "no owner"),
        ({"category": ""}, "category"),
    ],
)
def test_a_declaration_that_contradicts_itself_is_refused(
    changes: dict[str, object], complaint: str
) -> None:
    with pytest.raises(DeclarationError, match=complaint):
        dataclasses.replace(STICKERS, **changes)


def test_a_portable_custom_section_must_publish_its_schema() -> None:
    def exporter(uow: object, subject_id: str) -> Exported:
        raise AssertionError("not called")

    with pytest.raises(DeclarationError, match="schema"):
        dataclasses.replace(STICKERS, section=Section("s", "S", portable=True, exporter=exporter))


def test_a_non_personal_table_needs_its_reason() -> None:
    with pytest.raises(DeclarationError, match="reason"):
        NotPersonal(Sticker, reason=" ")


def test_the_registry_refuses_links_to_what_it_does_not_know() -> None:
    registry = Registry()
    orphan = dataclasses.replace(
        STICKERS,
        owner=ViaParent(User, link="owner_id", owner="id"),  # users: not in this registry
        section=None,
        not_exported="reasons",
    )
    with pytest.raises(DeclarationError, match="parent"):
        registry.extended(orphan)
    with pytest.raises(DeclarationError, match="exported with"):
        registry.extended(dataclasses.replace(STICKERS, section=None, exported_with="nowhere"))


# --- declared once: erased, exported and counted with no other change --------------------


@pytest.fixture
def with_stickers(container: Container) -> Iterator[Container]:
    """The container with one more table, declared once and created in the test database."""
    _Base.metadata.create_all(container.engine)
    try:
        yield dataclasses.replace(
            container, personal_data=container.personal_data.extended(STICKERS)
        )
    finally:
        _Base.metadata.drop_all(container.engine)


def _subject(c: Container, name: str) -> str:
    return accounts.signup(
        c,
        name=f"{name} Example",
        email=f"{name}@example.org",
        username=name,
        password="correct horse battery staple",
    ).id


def _stick(c: Container, owner_id: str, label: str) -> None:
    with c.uow() as uow:
        uow.session.add(
            Sticker(owner_id=owner_id, label=label, sealed=b"\x00secret", made_at=c.clock.now())
        )
        uow.commit()


def _stickers_of(c: Container, owner_id: str) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).where(Sticker.owner_id == owner_id)) or 0)


def _archive(c: Container, user_id: str, kind: str) -> zipfile.ZipFile:
    request = intake.submit(c, user_id=user_id, type=kind)
    Worker(c).run_until_idle()
    download = access.open_download(c, user_id=user_id, request_id=request.id)
    return zipfile.ZipFile(io.BytesIO(b"".join(download.chunks)))


def test_a_new_table_declared_once_is_exported_counted_and_erased_with_no_other_change(
    with_stickers: Container,
) -> None:
    c = with_stickers
    ada, bob = _subject(c, "ada"), _subject(c, "bob")
    _stick(c, ada, "rocket")
    _stick(c, bob, "comet")

    access = _archive(c, ada, "access")
    doc = json.loads(access.read("data.json"))
    # Its columns by owner, the hidden sealed one left out, timestamps as ISO 8601.
    assert doc["stickers"] == [{"id": 1, "label": "rocket", "made_at": c.clock.now().isoformat()}]
    assert "<h2>Your stickers</h2>" in access.read("index.html").decode()
    portable = _archive(c, ada, "portability")
    schema = json.loads(portable.read("schema.json"))
    assert "stickers" in schema["required"]
    validate(json.loads(portable.read("data.json")), schema)
    assert holdings.Held(1, "sticker") in holdings.held_about(c, user_id=ada)

    request = intake.submit(c, user_id=ada, type="erasure")
    Worker(c).run_until_idle()
    assert intake.get_any(c, request_id=request.id).status == "completed"
    assert (_stickers_of(c, ada), _stickers_of(c, bob)) == (0, 1)

    # A restored backup brings the row back: the ledger's replay erases it again.
    _stick(c, ada, "rocket")
    assert erasure.replay_ledger(c) == 1
    assert (_stickers_of(c, ada), _stickers_of(c, bob)) == (0, 1)
