"""The sharing service: data leaves for a processor only as the policy and the subject allow,
and what leaves is in the disclosure log and the subject's access archive."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ProcessingRefused
from minimaker.kernel.purposes import Purpose
from minimaker.policy.model import Dpa, Treatment
from minimaker.rights import objection, restriction
from minimaker.sharing import events, rules
from minimaker.sharing import service as sharing
from minimaker.sharing.rules import PayloadRefused, Refusal, ShareRefused
from tests.sharing.archive import archive_recipients, audit, disclosures, subject
from tests.sharing.processors import US_BARE, US_SCC, policy_with, processor

REFUSED = str(events.SHARE_REFUSED)


def send(
    c: Container,
    name: str,
    subject_id: str | None,
    *,
    payload: Any = None,
    purpose: Purpose = Purpose.SERVICE,
    categories: tuple[str, ...] = ("generated_model",),
) -> list[Any]:
    """Share through the service; what the processor received."""
    received: list[Any] = []
    share = sharing.Share(name, purpose, categories, payload or {"model": "m-1"}, subject_id)
    sharing.share(c, share, actor=SYSTEM_CLI, send=received.append)
    return received


def test_an_allowed_share_is_sent_as_is_logged_and_in_the_subjects_access_archive(
    container: Container, worker: Worker
) -> None:
    ada, bob = subject(container, "ada"), subject(container, "bob")
    with policy_with(container, {"print-partner": processor()}):
        received = send(container, "print-partner", ada, payload={"model": "m-1"})
        assert received == [{"model": "m-1"}]
        assert disclosures(container) == [(ada, "print-partner", "generated_model", "service")]
        told = archive_recipients(container, worker, ada)
    assert told["print-partner"]["categories"] == ["generated_model"]
    assert told["print-partner"]["purposes"] == ["service"]
    assert audit(container, str(events.DISCLOSURE_RECORDED)) == [
        (ada, "processor:print-partner:personal", "service")
    ]
    assert "print-partner" not in archive_recipients(container, worker, bob)


@pytest.mark.parametrize(
    ("dpa", "code"),
    [
        (None, Refusal.NO_DPA),
        (Dpa(reference="OLD", signed=date(2024, 1, 1), expires=date(2025, 12, 31)), "expired"),
    ],
)
def test_a_processor_without_a_dpa_in_force_receives_nothing(
    container: Container, clock: ManualClock, dpa: Dpa | None, code: str
) -> None:
    ada = subject(container)
    received: list[Any] = []
    with policy_with(container, {"print-partner": processor(dpa=dpa)}):
        share = sharing.Share("print-partner", Purpose.SERVICE, ("generated_model",), {}, ada)
        with pytest.raises(ShareRefused, match=r"agreement|expired") as raised:
            sharing.share(container, share, actor=SYSTEM_CLI, send=received.append)
    assert raised.value.status == 403 and code in raised.value.refusal.value
    assert received == [] and disclosures(container) == []
    ((who, what, purpose),) = audit(container, REFUSED)
    assert who == ada and what == f"processor:print-partner:{raised.value.refusal.value}"
    assert purpose == "security"


def test_a_dpa_that_expires_while_the_service_runs_stops_the_sharing_that_day(
    container: Container, clock: ManualClock
) -> None:
    ada = subject(container)
    today = clock.now().date()
    dpa = Dpa(reference="SHORT", signed=date(2025, 1, 1), expires=today)
    with policy_with(container, {"print-partner": processor(dpa=dpa)}):
        assert send(container, "print-partner", ada)
        clock.advance(days=1)
        with pytest.raises(ShareRefused, match="expired"):
            send(container, "print-partner", ada)
    assert len(disclosures(container)) == 1


def test_a_processor_outside_the_eu_receives_only_under_a_recorded_safeguard(
    container: Container,
) -> None:
    ada = subject(container)
    entries = {"us-bare": processor(region="us-bare"), "us-scc": processor(region="us-scc")}
    with policy_with(container, entries, {"us-bare": US_BARE, "us-scc": US_SCC}):
        with pytest.raises(ShareRefused, match="outside the EU/EEA") as raised:
            send(container, "us-bare", ada)
        assert raised.value.refusal is Refusal.TRANSFER
        assert send(container, "us-scc", ada)
    assert [d[1] for d in disclosures(container)] == ["us-scc"]


def test_a_share_for_a_purpose_the_subject_objected_to_is_refused_and_audited(
    container: Container,
) -> None:
    ada = subject(container)
    objection.set_objections(container, user_id=ada, objections={"analytics"})
    stats = processor(
        purposes=("analytics",), categories=("usage_event",), treatment=Treatment.PSEUDONYMISED
    )
    with policy_with(container, {"stats": stats}):
        with pytest.raises(ProcessingRefused, match="objected"):
            send(container, "stats", ada, purpose=Purpose.ANALYTICS, categories=("usage_event",))
        assert disclosures(container) == []
        bob = subject(container, "bob")  # who did not object
        send(container, "stats", bob, purpose=Purpose.ANALYTICS, categories=("usage_event",))
    assert disclosures(container) == [(bob, "stats", "usage_event", "analytics")]
    ((who, what, _),) = audit(container, "privacy:processing:refused")
    assert who == ada and what == "purpose:analytics:objected"


def test_a_restricted_subjects_data_goes_for_the_service_only(container: Container) -> None:
    ada = subject(container)
    restriction.set_restriction(container, user_id=ada, restricted=True)
    stats = processor(
        purposes=("analytics",), categories=("usage_event",), treatment=Treatment.PSEUDONYMISED
    )
    with policy_with(container, {"print-partner": processor(), "stats": stats}):
        with pytest.raises(ProcessingRefused, match="restricted"):
            send(container, "stats", ada, purpose=Purpose.ANALYTICS, categories=("usage_event",))
        assert send(container, "print-partner", ada)  # Art. 18(2): what they asked for goes
    assert [d[1] for d in disclosures(container)] == ["print-partner"]


def test_a_pseudonymised_share_carries_a_keyed_pseudonym_per_processor_and_never_the_id(
    container: Container,
) -> None:
    ada = subject(container)
    pseudo = {"purposes": ("analytics",), "categories": ("usage_event",)}
    entries = {
        "stats-a": processor(treatment=Treatment.PSEUDONYMISED, **pseudo),  # type: ignore[arg-type]
        "stats-b": processor(treatment=Treatment.PSEUDONYMISED, **pseudo),  # type: ignore[arg-type]
    }
    got = {}
    with policy_with(container, entries):
        for name in entries:
            (got[name],) = send(
                container,
                name,
                ada,
                payload={"events": 3},
                purpose=Purpose.ANALYTICS,
                categories=("usage_event",),
            )
    key = container.secret(sharing.PSEUDONYM_SECRET)
    assert got["stats-a"] == {"subject": rules.pseudonym(key, "stats-a", ada), "events": 3}
    assert got["stats-a"]["subject"] != got["stats-b"]["subject"]
    assert ada not in repr(got)
    # Still the subject's data, pseudonymised (Recital 26): in their log, for Art. 15 and 19.
    assert {(d[0], d[1]) for d in disclosures(container)} == {(ada, "stats-a"), (ada, "stats-b")}
    assert {a[1] for a in audit(container, str(events.DISCLOSURE_RECORDED))} == {
        "processor:stats-a:pseudonymised",
        "processor:stats-b:pseudonymised",
    }


# --- bad input: a clear error, nothing sent, nothing logged ----------------------------------


def _refused_share(c: Container, share: sharing.Share) -> Exception:
    received: list[Any] = []
    with pytest.raises((ShareRefused, PayloadRefused)) as raised:
        sharing.share(c, share, actor=SYSTEM_CLI, send=received.append)
    assert received == [] and disclosures(c) == []
    assert len(audit(c, REFUSED)) == 1  # the refusal stands in the audit
    assert audit(c, str(events.DISCLOSURE_RECORDED)) == []
    return raised.value


@pytest.mark.parametrize(
    ("processor_name", "categories", "purpose", "code"),
    [
        ("no-such-processor", ("generated_model",), Purpose.SERVICE, Refusal.UNKNOWN_PROCESSOR),
        ("print-partner", ("uploaded_image",), Purpose.SERVICE, Refusal.CATEGORY),
        ("print-partner", ("generated_model", "credentials"), Purpose.SERVICE, Refusal.CATEGORY),
        ("print-partner", (), Purpose.SERVICE, Refusal.CATEGORY),
        ("print-partner", ("generated_model",), Purpose.TRAINING, Refusal.PURPOSE),
    ],
)
def test_an_unknown_processor_a_wrong_category_or_purpose_is_a_clear_403(
    container: Container,
    processor_name: str,
    categories: tuple[str, ...],
    purpose: Purpose,
    code: Refusal,
) -> None:
    ada = subject(container)
    with policy_with(container, {"print-partner": processor()}):
        share = sharing.Share(processor_name, purpose, categories, {"model": "m-1"}, ada)
        error = _refused_share(container, share)
    assert isinstance(error, ShareRefused) and error.refusal is code and error.status == 403
    assert "nothing was sent" in error.message and ada not in error.message
    if code is Refusal.UNKNOWN_PROCESSOR:
        # A name the policy does not know is not written into the audit.
        assert audit(container, REFUSED)[0][1] == "processor:unknown:unknown_processor"


def test_a_pseudonymised_payload_naming_its_subject_is_refused_with_422(
    container: Container,
) -> None:
    ada = subject(container)
    stats = processor(
        purposes=("analytics",), categories=("usage_event",), treatment=Treatment.PSEUDONYMISED
    )
    with policy_with(container, {"stats": stats}):
        share = sharing.Share(
            "stats", Purpose.ANALYTICS, ("usage_event",), {"rows": [{"who": ada}]}, ada
        )
        error = _refused_share(container, share)
    assert isinstance(error, PayloadRefused) and error.status == 422
    assert "names its subject" in error.message and ada not in error.message


@pytest.mark.parametrize(
    "payload",
    [
        [{"day": "2026-06-01", "event": "model.generated", "subject_id": "s", "count": 1}],
        [{"day": "2026-06-01", "event": "0123456789abcdef0123456789abcdef", "count": 1}],
        {"day": "2026-06-01", "count": 1},
        "2026-06-01,12",
    ],
)
def test_an_anonymised_payload_that_is_not_aggregates_naming_nobody_is_refused(
    container: Container, payload: Any
) -> None:
    share = sharing.Share("analytics-provider", Purpose.ANALYTICS, ("usage_event",), payload)
    error = _refused_share(container, share)
    assert isinstance(error, PayloadRefused) and error.status == 422


def test_an_anonymised_share_about_a_subject_is_refused(container: Container) -> None:
    ada = subject(container)
    rows = [{"day": "2026-06-01", "event": "model.generated", "count": 1}]
    share = sharing.Share("analytics-provider", Purpose.ANALYTICS, ("usage_event",), rows, ada)
    error = _refused_share(container, share)
    assert isinstance(error, PayloadRefused) and "aggregates only" in error.message


def test_only_a_share_the_service_cleared_can_be_recorded(container: Container) -> None:
    share = sharing.Share("smtp-relay", Purpose.SERVICE, ("message",), {}, None)
    forged = sharing.Cleared(share, rules.Treatment.PERSONAL, {}, object())
    with container.uow() as uow, pytest.raises(TypeError, match="cleared"):
        sharing.record(uow, forged, actor=SYSTEM_CLI)
    assert disclosures(container) == []


def test_nothing_is_logged_when_the_transport_fails(container: Container) -> None:
    ada = subject(container)

    def broken(payload: Any) -> None:
        raise ConnectionError("the processor is down")

    with policy_with(container, {"print-partner": processor()}):
        share = sharing.Share("print-partner", Purpose.SERVICE, ("generated_model",), {}, ada)
        with pytest.raises(ConnectionError):
            sharing.share(container, share, actor=SYSTEM_CLI, send=broken)
    assert disclosures(container) == []
    assert audit(container, str(events.DISCLOSURE_RECORDED)) == []
