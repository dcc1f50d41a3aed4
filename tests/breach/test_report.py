"""The report to the authority (Art. 33(3)): what it lacks until the officer has given it, the
reasons for a delay past 72 hours, the Art. 34(3) exception the decision records; as JSON, as
a page and as a printable file; refused cleanly on bad input."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.breach import notices, report
from minimaker.breach import service as register
from minimaker.breach.exposure import Exposure, ExposureKind
from minimaker.breach.tables import IncidentStep
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Conflict, ValidationFailed
from tests.breach.seeding import stolen_backup, subject, upload
from tests.breach.test_notices import TEXT
from tests.breach.test_scoped_incident import STOLEN_BY_UNKNOWN
from tests.breach.world import DESCRIPTION, audit_of, officer, opened, photos_stolen
from tests.browser import csrf_on
from tests.staff.signing_in import staff_headers
from tests.staff.test_pages import staff_signed_in

CONSEQUENCES = "Grace Hopper's photos may be published by whoever holds them."
MEASURES = "Sessions revoked; the laptop's disk key was rotated the same hour."
DELAY = "The stolen laptop was only found missing on the fourth day."


def test_the_report_lists_what_is_missing_until_the_officer_gives_it(
    container: Container,
) -> None:
    c = container
    who = officer(c)
    made = opened(c, who, hours_ago=1)
    first = report.authority_report(c, who, made.id)
    assert first.missing == ["categories", "likely_consequences", "measures"]
    assert first.complete is False and first.delay_reason_required is False
    assert first.nature == DESCRIPTION and first.dpo_contact == c.policy.controller.dpo
    numbers, circumstances = photos_stolen()
    register.assess(c, made.id, numbers, circumstances, who)
    report.record_report(c, who, made.id, likely_consequences=CONSEQUENCES, measures=MEASURES)
    whole = report.authority_report(c, who, made.id)
    assert whole.missing == [] and whole.complete is True
    assert (whole.subjects, whole.records) == (40, 160)
    assert whole.severity is not None and whole.severity.level == "high"
    assert (whole.likely_consequences, whole.measures) == (CONSEQUENCES, MEASURES)
    actions = [a for _, a, _ in audit_of(c, made.id)]
    assert actions.count("breach:report:viewed") == 2
    assert "breach:incident:reported" in actions


def test_a_late_report_needs_the_reasons_for_the_delay_from_the_officer_or_the_first_phase(
    container: Container, clock: ManualClock
) -> None:
    c = container
    who = officer(c)
    made = opened(c, who, hours_ago=73)
    numbers, circumstances = photos_stolen()
    register.assess(c, made.id, numbers, circumstances, who)
    report.record_report(c, who, made.id, likely_consequences=CONSEQUENCES, measures=MEASURES)
    late = report.authority_report(c, who, made.id)
    assert late.delay_reason_required is True and late.missing == ["delay_reason"]
    register.add_phase(
        c, who, made.id, told_at=clock.now(), content="First notice.", delay_reason=DELAY
    )
    told = report.authority_report(c, who, made.id)
    assert told.delay_reason == DELAY and told.missing == []
    assert [(p.phase, p.late, p.content) for p in told.phases] == [(1, True, "First notice.")]
    other = opened(c, who, hours_ago=80)
    register.assess(c, other.id, numbers, circumstances, who)
    register.decide(
        c,
        who,
        other.id,
        outcome="override",
        notify_authority=False,
        notify_subjects=True,
        reason="Only our own staff's test accounts were affected.",
    )
    assert report.authority_report(c, who, other.id).delay_reason_required is False


def test_a_confirmed_34_3_a_proposal_is_recorded_and_no_notice_goes(
    container: Container, clock: ManualClock, tmp_path: Path
) -> None:
    c = container
    stolen = tmp_path / "stolen.tar"
    stolen_backup(c, clock, stolen)
    who = officer(c)
    made = register.open_incident(
        c, who, aware_at=clock.now(), description=DESCRIPTION, source="staff_report"
    )
    exposures = [Exposure(ExposureKind.LOCATION, ref=f"backup:{stolen}")]
    register.scope_incident(c, incident_id=made.id, exposures=exposures, actor=who)
    register.assess(c, made.id, None, STOLEN_BY_UNKNOWN, who)
    register.decide(c, who, made.id, outcome="confirm")
    decided = register.get_incident(c, who, made.id).history[-1]
    assert decided.body["exception"] == "Art. 34(3)(a)"
    assert report.authority_report(c, who, made.id).exception == "Art. 34(3)(a)"
    with pytest.raises(Conflict, match="not to tell"):
        notices.notify_subjects(c, who, made.id, exposures=exposures, text=TEXT)


def test_an_exception_is_refused_where_it_cannot_apply_and_kept_with_its_reason(
    container: Container,
) -> None:
    c = container
    who = officer(c)
    made = opened(c, who)
    numbers, circumstances = photos_stolen(encrypted=False)
    register.assess(c, made.id, numbers, circumstances, who)  # high: tell the subjects
    with pytest.raises(ValidationFailed, match="only where the subjects"):
        register.decide(c, who, made.id, outcome="confirm", exception="Art. 34(3)(b)")
    with pytest.raises(ValidationFailed, match="needs the data encrypted"):
        register.decide(
            c,
            who,
            made.id,
            outcome="override",
            notify_authority=True,
            notify_subjects=False,
            reason="The photos were deleted from the thief's share.",
            exception="Art. 34(3)(a)",
        )
    with pytest.raises(ValidationFailed, match="must be one of"):
        register.decide(c, who, made.id, outcome="confirm", exception="Art. 99")
    register.decide(
        c,
        who,
        made.id,
        outcome="override",
        notify_authority=True,
        notify_subjects=False,
        reason="The share was taken down within the hour.",
        exception="Art. 34(3)(b)",
    )
    shown = register.get_incident(c, who, made.id).history[-1]
    assert shown.body["exception"] == "Art. 34(3)(b)" and shown.body["notify_subjects"] is False
    assert shown.texts["reason"] == "The share was taken down within the hour."


BASE = "/api/v1/admin/incidents"


def _steps(c: Container) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(IncidentStep)) or 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"measures": MEASURES}, "likely_consequences"),
        ({"likely_consequences": "", "measures": MEASURES}, "likely_consequences"),
        ({"likely_consequences": 3, "measures": MEASURES}, "likely_consequences"),
        ({"likely_consequences": "x" * 4001, "measures": MEASURES}, "likely_consequences"),
        (
            {"likely_consequences": "y", "measures": MEASURES, "delay_reason": "late"},
            "delay_reason",
        ),
        ({"likely_consequences": "y", "measures": MEASURES, "who": "me"}, "who"),
    ],
)
def test_a_bad_report_body_is_422_and_no_step_is_written(
    client: TestClient, container: Container, body: dict[str, Any], field: str
) -> None:
    dpo = staff_headers(client, container)
    made = opened(container, officer(container, "otto"))
    before = _steps(container)
    r = client.post(f"{BASE}/{made.id}/report", json=body, headers=dpo)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"].endswith(field)
    assert _steps(container) == before


def test_the_report_over_http_refuses_other_roles_unknown_ids_and_a_closed_incident(
    client: TestClient, container: Container
) -> None:
    c = container
    dpo = staff_headers(client, c)
    made = opened(c, officer(c, "otto"))
    good = {"likely_consequences": CONSEQUENCES, "measures": MEASURES}
    other = staff_headers(client, c, "sam", "admin")
    assert client.get(f"{BASE}/{made.id}/report", headers=other).status_code == 403
    assert client.post(f"{BASE}/{made.id}/report", json=good, headers=other).status_code == 403
    assert client.get(f"{BASE}/{'0' * 32}/report", headers=dpo).status_code == 404
    assert client.post(f"{BASE}/nope/report", json=good, headers=dpo).status_code == 404
    r = client.post(f"{BASE}/{made.id}/report", json=good, headers=dpo)
    assert r.status_code == 200 and r.json()["steps"] == 2
    got = client.get(f"{BASE}/{made.id}/report", headers=dpo).json()
    assert got["likely_consequences"] == CONSEQUENCES and got["missing"] == ["categories"]
    numbers, circumstances = photos_stolen()
    who = officer(c, "olga")
    register.assess(c, made.id, numbers, circumstances, who)
    register.decide(c, who, made.id, outcome="confirm")
    register.close(c, who, made.id)
    assert client.post(f"{BASE}/{made.id}/report", json=good, headers=dpo).status_code == 409


def test_the_report_page_and_its_printable_download_carry_every_field(
    client: TestClient, container: Container
) -> None:
    c = container
    browser = staff_signed_in(client, c, "dpo")
    made = opened(c, officer(c, "otto"), hours_ago=2)
    path = f"/admin/incidents/{made.id}"
    page = browser.get(path).text
    form = {"csrf": csrf_on(page), "likely_consequences": CONSEQUENCES, "measures": MEASURES}
    r = browser.post(f"{path}/report", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    shown = browser.get(f"{path}/report").text
    assert "Not complete yet" in shown and "approximate numbers of subjects" in shown
    numbers, circumstances = photos_stolen()
    register.assess(c, made.id, numbers, circumstances, officer(c, "olga"))
    shown = browser.get(f"{path}/report").text
    assert "Every field of Art. 33(3) is given" in shown
    printable = browser.get(f"{path}/report/export?format=html")
    assert printable.status_code == 200
    assert 'filename="breach-report-' in printable.headers["content-disposition"]
    for field in report.FIELDS:
        if field != "delay_reason":
            assert f'data-field="{field}"' in printable.text
    for text in ("Laptop of Grace Hopper", CONSEQUENCES, MEASURES):
        assert text in html.unescape(printable.text)
    assert "<script" not in printable.text and " style=" not in printable.text
    as_json = browser.get(f"{path}/report/export?format=json").json()
    assert as_json["complete"] is True and as_json["subjects"] == 40
    assert browser.get(f"{path}/report/export?format=pdfx").status_code == 422


def test_the_officer_scopes_and_notifies_through_the_forms(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    c = container
    ada = subject(c, "ada")
    upload(c, ada)  # a photo: the risk is high, so the subject is to be told
    browser = staff_signed_in(client, c, "dpo")
    made = opened(c, officer(c, "otto"))
    path = f"/admin/incidents/{made.id}"
    key = {"kind": "key", "ref": f"subject:{ada}", "start": "", "end": "", "blob_ids": ""}
    r = browser.post(
        f"{path}/scope",
        data={"csrf": csrf_on(browser.get(path).text), **key},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "1 people" in browser.get(path).text
    who = officer(c, "olga")
    register.assess(c, made.id, None, STOLEN_BY_UNKNOWN, who)
    register.decide(c, who, made.id, outcome="confirm")
    page = browser.get(path).text
    assert "Tell the people affected" in page
    parts = {
        "nature": TEXT.nature,
        "consequences": TEXT.consequences,
        "measures": TEXT.measures,
        "advice": TEXT.advice,
    }
    r = browser.post(
        f"{path}/notices", data={"csrf": csrf_on(page), **key, **parts}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    assert "0 delivered, 1 on their way" in browser.get(path).text
    bad = {**key, "kind": "laptop"}
    r = browser.post(f"{path}/scope", data={"csrf": csrf_on(page), **bad})
    assert r.status_code == 422 and "not one of the choices" in r.text
    with c.sessions() as s:
        assert s.scalar(select(func.max(AuditEntry.seq))) is not None
    assert timedelta(0) < made.deadline_at - clock.now()
