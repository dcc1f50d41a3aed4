"""The purpose rule through the real `ensure_allowed`: purpose x category x subject state on
SQLite and PostgreSQL, each refusal audited although the caller's unit rolled back; and a
policy that leaves a purpose out refuses it at run time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
import yaml
from sqlalchemy import event, func, select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.bootstrap import build
from minimaker.generation import usage
from minimaker.generation.tables import UsageEvent
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ProcessingRefused
from minimaker.kernel.purposes import Purpose
from minimaker.policy.load import SHIPPED
from minimaker.rights import consent, objection
from minimaker.rights.processing import allowed, ensure_allowed
from minimaker.settings import Settings

REFUSED = "privacy:processing:refused"
OK = None

#: (purpose, category, state, expected refusal code or OK), written out by hand from the
#: shipped policy: "objected" objects to every objectable purpose, "consented" consents to
#: every consent purpose.
MATRIX = [
    # service: contract; untouched by restriction, objection or consent; only its categories.
    ("service", "account", "none", OK),
    ("service", "account", "restricted", OK),
    ("service", "account", "objected", OK),
    ("service", "account", "consented", OK),
    ("service", "account", "objected+consented", OK),
    ("service", "uploaded_image", "restricted", OK),
    ("service", "usage_event", "none", "category"),
    ("service", "usage_event", "restricted", "category"),
    # security: legal obligation; goes on while restricted.
    ("security", "security_log", "none", OK),
    ("security", "security_log", "restricted", OK),
    ("security", "security_log", "objected+consented", OK),
    ("security", "uploaded_image", "none", "category"),
    # generation: contract, but stopped by a restriction (Art. 18).
    ("generation", "uploaded_image", "none", OK),
    ("generation", "generated_model", "restricted", "restricted"),
    ("generation", "uploaded_image", "objected", OK),
    ("generation", "uploaded_image", "consented", OK),
    ("generation", "account", "none", "category"),
    # analytics: legitimate interest, objectable.
    ("analytics", "usage_event", "none", OK),
    ("analytics", "usage_event", "restricted", "restricted"),
    ("analytics", "usage_event", "objected", "objected"),
    ("analytics", "usage_event", "consented", OK),
    ("analytics", "usage_event", "objected+consented", "objected"),
    ("analytics", "account", "none", "category"),
    # training: legitimate interest, objectable.
    ("training", "uploaded_image", "none", OK),
    ("training", "generated_model", "restricted", "restricted"),
    ("training", "uploaded_image", "objected", "objected"),
    ("training", "generated_model", "consented", OK),
    ("training", "uploaded_image", "objected+consented", "objected"),
    ("training", "message", "none", "category"),
    # marketing: consent only, and an objection is absolute (Art. 21(3)).
    ("marketing", "generated_model", "none", "no_consent"),
    ("marketing", "generated_model", "restricted", "restricted"),
    ("marketing", "uploaded_image", "objected", "objected"),
    ("marketing", "generated_model", "consented", OK),
    ("marketing", "generated_model", "objected+consented", "objected"),
    ("marketing", "account", "consented", "category"),
]


def _subject(c: Container, state: str) -> str:
    """A new account in `state`, set through the services a subject uses."""
    profile = accounts.signup(
        c,
        name="Matrix Example",
        email="matrix@example.org",
        username="matrix",
        password="correct horse battery staple",
    )
    if "objected" in state:
        objection.set_objections(
            c, user_id=profile.id, objections={"training", "marketing", "analytics"}
        )
    if "consented" in state:
        consent.set_consents(c, user_id=profile.id, consents={"marketing"})
    if state == "restricted":
        with c.uow() as uow:
            accounts.set_restricted(uow, user_id=profile.id, since=c.clock.now())
            uow.commit()
    return profile.id


def _refusals(c: Container, subject_id: str) -> list[str]:
    with c.sessions() as s:
        query = select(AuditEntry.object).where(
            AuditEntry.action == REFUSED, AuditEntry.subject == subject_id
        )
        return [str(o) for o in s.scalars(query)]


def _usage_events(c: Container) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(UsageEvent)) or 0)


@pytest.mark.parametrize(("purpose", "category", "state", "expected"), MATRIX)
def test_the_rule_allows_or_refuses_each_purpose_category_and_state(
    container: Container, purpose: str, category: str, state: str, expected: str | None
) -> None:
    subject_id = _subject(container, state)
    wanted = Purpose(purpose)
    with container.uow() as uow:
        assert allowed(uow, subject_id, wanted, [category]) is (expected is None)
    try:
        with container.uow() as uow:
            # The caller's own work, written before it asks: gone with its unit if refused.
            usage.record(uow, subject_id=subject_id, event="matrix", at=container.clock.now())
            assert ensure_allowed(uow, subject_id, wanted, [category]) is wanted
            uow.commit()
    except ProcessingRefused as refused:
        assert expected is not None, refused
        assert refused.purpose == purpose
        assert _usage_events(container) == 0
        assert _refusals(container, subject_id) == [f"purpose:{purpose}:{expected}"]
        return
    assert expected is None, f"{purpose} on {category} in {state} was allowed"
    assert _usage_events(container) == 1
    assert _refusals(container, subject_id) == []


def test_the_refusal_entry_is_recorded_for_security_and_names_no_personal_data(
    container: Container,
) -> None:
    subject_id = _subject(container, "none")
    with pytest.raises(ProcessingRefused), container.uow() as uow:
        ensure_allowed(uow, subject_id, Purpose.MARKETING, ["generated_model"])
    with container.sessions() as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == REFUSED))
    assert (entry.actor, entry.subject) == ("system:rights", subject_id)
    assert (entry.object, entry.purpose) == ("purpose:marketing:no_consent", "security")
    assert "matrix" not in f"{entry.actor}{entry.object}"  # the username is nowhere


def _statements(c: Container, purpose: Purpose, categories: list[str], subject_id: str) -> int:
    """How many SQL statements one ensure_allowed call runs."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(c.engine, "before_cursor_execute", count)
    try:
        with suppress(ProcessingRefused), c.uow(write=False) as uow:
            ensure_allowed(uow, subject_id, purpose, categories)
    finally:
        event.remove(c.engine, "before_cursor_execute", count)
    return len(seen)


def test_service_and_security_are_decided_without_reading_the_subjects_state(
    container: Container,
) -> None:
    # GET /me asks on every request: the policy alone decides, in memory (a restricted
    # subject's own access and security go on whatever their objections and consents).
    subject_id = _subject(container, "restricted")
    assert _statements(container, Purpose.SERVICE, ["account"], subject_id) == 0
    assert _statements(container, Purpose.SECURITY, ["security_log"], subject_id) == 0
    # A purpose whose answer the state can change reads it (and is refused here).
    assert _statements(container, Purpose.GENERATION, ["uploaded_image"], subject_id) >= 1
    assert _refusals(container, subject_id) == ["purpose:generation:restricted"]


# --- A policy that leaves a purpose out ---------------------------------------------------


def _policy_without_marketing(folder: Path) -> Path:
    """The shipped policy with marketing (and anything naming it) removed, beside its text."""
    doc = yaml.safe_load(SHIPPED.read_text("utf-8"))
    del doc["purposes"]["marketing"]
    for processor in doc.get("processors", {}).values():
        assert "marketing" not in processor["purposes"]  # nothing else names it
    (folder / doc["text_file"]).write_text(
        (SHIPPED.parent / doc["text_file"]).read_text("utf-8"), "utf-8"
    )
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return path


@pytest.fixture
def without_marketing(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> Iterator[Container]:
    path = _policy_without_marketing(tmp_path)
    c = build(settings.model_copy(update={"policy_file": path}), clock=clock)
    try:
        yield c
    finally:
        c.close()


def test_a_policy_without_a_purpose_refuses_it_at_run_time_even_with_consent(
    without_marketing: Container,
) -> None:
    c = without_marketing
    assert "marketing" not in c.policy.purposes
    subject_id = _subject(c, "none")
    # Nor can anyone consent or object to a purpose the policy in force does not have.
    assert consent.get_consents(c, user_id=subject_id) == {}
    assert objection.get_objections(c, user_id=subject_id) == {
        "analytics": False,
        "training": False,
    }
    with pytest.raises(ProcessingRefused) as refused, c.uow() as uow:
        ensure_allowed(uow, subject_id, Purpose.MARKETING, ["generated_model"])
    assert "declares no purpose marketing" in refused.value.reason
    assert _refusals(c, subject_id) == ["purpose:marketing:undeclared"]
    # What the policy still declares goes on as before.
    with c.uow() as uow:
        assert allowed(uow, subject_id, Purpose.ANALYTICS, ["usage_event"])
