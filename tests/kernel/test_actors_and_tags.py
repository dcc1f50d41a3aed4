"""Actors, purposes and audit tags are values: declared once, checked where they are made."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from sqlalchemy import select

import minimaker
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.actors import SYSTEM_RIGHTS, Actor, Component
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.container import Container
from minimaker.kernel.purposes import Purpose
from minimaker.policy import load_policy


def _declared_tags() -> list[AuditTag]:
    tags: dict[int, AuditTag] = {}  # by identity: a tag may be named twice (an alias)
    root = Path(minimaker.__path__[0])
    for info in pkgutil.iter_modules(minimaker.__path__):
        if not (root / info.name / "events.py").exists():
            continue  # a package without tags; an events module that fails to import fails here
        events = importlib.import_module(f"minimaker.{info.name}.events")
        for value in vars(events).values():
            found = value.values() if isinstance(value, dict) else [value]
            tags.update({id(v): v for v in found if isinstance(v, AuditTag)})
    return list(tags.values())


def test_the_purposes_are_exactly_the_policy_files() -> None:
    assert {p.value for p in Purpose} == set(load_policy().purposes)


def test_every_declared_tag_is_unique_and_serves_a_policy_purpose() -> None:
    tags = _declared_tags()
    assert len(tags) > 30  # every feature's events module was found
    names = [str(t) for t in tags]
    assert len(names) == len(set(names))
    assert {t.purpose.value for t in tags} <= set(load_policy().purposes)


def test_actors_read_as_the_audit_stores_them() -> None:
    assert str(Actor.subject("a" * 32)) == "subject:" + "a" * 32
    assert str(Actor.staff("b" * 32)) == "staff:" + "b" * 32
    assert str(SYSTEM_RIGHTS) == "system:rights"
    assert {str(Actor.system(c)) for c in Component} >= {"system:cli", "system:mail"}


@pytest.mark.parametrize(
    ("parts", "problem"),
    [
        (("Upload", "photo", "created"), "lowercase"),
        (("upload", "photo:x", "created"), "lowercase"),
        (("upload", "", "created"), "lowercase"),
        (("u" * 30, "o" * 30, "v" * 30), "longer"),
    ],
)
def test_a_malformed_tag_is_refused_where_it_is_declared(
    parts: tuple[str, str, str], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        AuditTag(*parts, Purpose.SERVICE)


def test_an_audited_tag_records_its_own_purpose_unless_the_caller_names_one(
    container: Container,
) -> None:
    tag = AuditTag("test", "thing", "done", Purpose.SECURITY)
    with container.uow() as uow:
        uow.audit(tag, actor=SYSTEM_RIGHTS, object="thing:1")
        uow.audit(tag, actor=Actor.subject("c" * 32), object="thing:2", purpose=Purpose.SERVICE)
        uow.commit()
    with container.sessions() as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.purpose).order_by(AuditEntry.seq)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("test:thing:done", "system:rights", "security"),
        ("test:thing:done", "subject:" + "c" * 32, "service"),
    ]


def test_a_tag_with_a_typed_in_purpose_is_refused_when_declared() -> None:
    with pytest.raises(TypeError, match="Purpose"):
        AuditTag("upload", "content", "read", "selling-to-brokers")  # type: ignore[arg-type]
