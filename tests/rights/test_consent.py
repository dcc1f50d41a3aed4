"""Consent (Art. 7) end to end: none for a new account, given and withdrawn by the subject's
own act (API and privacy centre), each change audited, refused for a purpose the policy does
not run on consent, and bad preferences refused whole with nothing changed."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ProcessingRefused
from minimaker.kernel.purposes import Purpose
from minimaker.rights import export
from minimaker.rights.processing import allowed, ensure_allowed
from tests.browser import api_headers, form_token, signed_in
from tests.conftest import signup_and_login

PREFS = "/api/v1/privacy/preferences"
NOTHING = {"training": False, "marketing": False, "analytics": False}
Headers = dict[str, str]


def _me(client: TestClient, headers: Headers) -> str:
    return str(client.get("/api/v1/me", headers=headers).json()["id"])


def _marketing_allowed(c: Container, subject_id: str) -> bool:
    with c.uow() as uow:
        return allowed(uow, subject_id, Purpose.MARKETING, ["generated_model"])


def _put(client: TestClient, headers: Headers, body: object) -> dict[str, object]:
    r = client.put(PREFS, json=body, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _audited(c: Container, subject_id: str) -> list[tuple[str, str | None]]:
    with c.sessions() as s:
        query = select(AuditEntry.action, AuditEntry.object).where(
            AuditEntry.subject == subject_id,
            AuditEntry.action.like("privacy:%"),
        )
        return [(a, o) for a, o in s.execute(query.order_by(AuditEntry.seq))]


def test_a_new_account_has_no_consent_and_marketing_is_refused(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    prefs = client.get(PREFS, headers=headers).json()
    assert prefs == {"objections": NOTHING, "consents": {"marketing": False}, "restricted": False}
    subject_id = _me(client, headers)
    with pytest.raises(ProcessingRefused) as refused, container.uow() as uow:
        ensure_allowed(uow, subject_id, Purpose.MARKETING, ["generated_model"])
    assert "not consented" in refused.value.reason


def test_marketing_is_allowed_after_consent_and_refused_after_withdrawal_or_objection(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    subject_id = _me(client, headers)
    given = _put(client, headers, {"objections": {}, "consents": {"marketing": True}})
    assert given["consents"] == {"marketing": True}
    assert _marketing_allowed(container, subject_id)

    withdrawn = _put(client, headers, {"objections": {}, "consents": {"marketing": False}})
    assert withdrawn["consents"] == {"marketing": False}
    assert not _marketing_allowed(container, subject_id)

    _put(client, headers, {"objections": {}, "consents": {"marketing": True}})
    assert _marketing_allowed(container, subject_id)
    # An objection is absolute (Art. 21(3)): it wins over the consent still on record.
    both = _put(client, headers, {"objections": {"marketing": True}})
    assert both["consents"] == {"marketing": True}  # consents left out: unchanged
    assert both["objections"] == {**NOTHING, "marketing": True}
    assert not _marketing_allowed(container, subject_id)

    assert _audited(container, subject_id) == [
        ("privacy:consent:given", "purpose:marketing"),
        ("privacy:consent:withdrawn", "purpose:marketing"),
        ("privacy:consent:given", "purpose:marketing"),
        ("privacy:objection:recorded", "purpose:marketing"),
    ]


def test_the_privacy_centre_offers_consent_unticked_and_withdraws_it_as_easily(
    client: TestClient, container: Container
) -> None:
    signed_in(client, "ada")
    headers = api_headers(client, "ada")
    page = client.get("/privacy").text
    box = re.search(r'<input type="checkbox" id="consent-marketing"[^>]*>', page)
    assert box is not None and "checked" not in box.group(0)  # no pre-ticked box (Art. 4(11))
    assert 'id="consent-training"' not in page  # training is objectable, not on consent

    def post(**fields: str) -> int:
        data = {"csrf": form_token(client, "/privacy"), **fields}
        return client.post("/privacy/consents", data=data, follow_redirects=False).status_code

    assert post(marketing="on") == 303
    assert client.get(PREFS, headers=headers).json()["consents"] == {"marketing": True}
    page = client.get("/privacy?done=consents").text
    assert "Your consent choices were saved" in page
    assert re.search(r'id="consent-marketing"[^>]*checked', page)
    assert _marketing_allowed(container, _me(client, headers))

    assert post() == 303  # the box cleared: one click, as giving it was
    assert client.get(PREFS, headers=headers).json()["consents"] == {"marketing": False}
    assert not _marketing_allowed(container, _me(client, headers))
    # A box for a purpose not on consent is ignored, not recorded.
    assert post(training="on") == 303
    assert client.get(PREFS, headers=headers).json()["consents"] == {"marketing": False}


def test_the_consent_form_needs_the_csrf_token(client: TestClient) -> None:
    signed_in(client, "ada")
    headers = api_headers(client, "ada")
    r = client.post("/privacy/consents", data={"marketing": "on"}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get(PREFS, headers=headers).json()["consents"] == {"marketing": False}


def test_the_access_archive_lists_consents_with_their_date(
    client: TestClient, container: Container
) -> None:
    headers = signup_and_login(client)
    _put(client, headers, {"objections": {"training": True}, "consents": {"marketing": True}})
    with container.uow(write=False) as uow:
        section = export.preferences(uow, _me(client, headers)).data
    assert section["consents"] == {"marketing": True}
    assert set(section["consented_since"]) == {"marketing"}
    assert section["objections"] == {**NOTHING, "training": True}


@pytest.mark.parametrize(
    "body",
    [
        {"objections": {}, "consents": {"marketing": "yes"}},
        {"objections": {}, "consents": {"marketing": 1}},
        {"objections": {}, "consents": {"marketing": None}},
        {"objections": {}, "consents": ["marketing"]},
        {"objections": {}, "consents": {"profiling": True}},
        {"objections": {}, "consents": {"training": True}},
        {"objections": {}, "consents": {"service": True}},
        {"objections": {"service": True}},
        {"objections": {"Marketing": True}},
        {"objections": {"training": False}, "consents": {"analytics": True}},
        {"consents": {"marketing": False}},
        {"objections": {}, "consents": {"marketing": False}, "restricted": True},
        {"objections": {f"purpose{i}": True for i in range(2000)}},
    ],
)
def test_bad_preferences_are_422_and_change_neither_objections_nor_consents(
    client: TestClient, container: Container, body: dict[str, object]
) -> None:
    headers = signup_and_login(client)
    before = _put(
        client, headers, {"objections": {"training": True}, "consents": {"marketing": True}}
    )
    audited = _audited(container, _me(client, headers))
    r = client.put(PREFS, json=body, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in {"validation_failed", "request_invalid"}
    assert client.get(PREFS, headers=headers).json() == before
    assert _audited(container, _me(client, headers)) == audited
