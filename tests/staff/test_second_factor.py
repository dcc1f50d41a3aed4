"""The staff second factor: RFC 6238 vectors, enrolment, replay, recovery codes, throttles."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.container import Container
from minimaker.staff import second_factor
from minimaker.staff.tables import StaffMember, StaffRecoveryCode
from tests.browser import form_token
from tests.staff.signing_in import (
    PASSWORD,
    RECOVERY,
    SECRETS,
    TOKEN,
    code_for,
    new_staff,
    ready_staff,
)

#: RFC 6238 Appendix B, SHA-1: the ASCII secret "12345678901234567890", 8 digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_the_rfc_6238_vectors_hold_through_pyotp_and_through_our_check(
    unix: int, expected: str
) -> None:
    assert pyotp.TOTP(RFC_SECRET, digits=8).at(unix) == expected
    at = datetime.fromtimestamp(unix, UTC)
    step = second_factor.matching_step(RFC_SECRET, expected, now=at, last_step=None, digits=8)
    assert step == unix // 30
    # The same code is a replay once its step was accepted, and wrong codes never match.
    assert (
        second_factor.matching_step(RFC_SECRET, expected, now=at, last_step=step, digits=8) is None
    )
    wrong = f"{(int(expected) + 1) % 10**8:08d}"
    assert second_factor.matching_step(RFC_SECRET, wrong, now=at, last_step=None, digits=8) is None


def _token(client: TestClient, username: str, code: str | None = None) -> dict:
    data = {"username": username, "password": PASSWORD}
    if code is not None:
        data["code"] = code
    r = client.post(TOKEN, data=data)
    return {"status": r.status_code, **r.json()}


def test_a_password_alone_opens_only_the_enrolment_and_confirming_opens_the_rest(
    client: TestClient, container: Container
) -> None:
    made = new_staff(container, "dora", "dpo")
    answer = _token(client, "dora")
    assert (answer["status"], answer["stage"]) == (200, "enrol")
    enrolling = {"Authorization": f"Bearer {answer['access_token']}"}
    assert client.get("/api/v1/admin/requests", headers=enrolling).status_code == 401
    assert client.get("/api/v1/admin/me", headers=enrolling).status_code == 401
    r = client.post("/api/v1/admin/auth/enrolment", headers=enrolling)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.json()["otpauth_uri"].startswith("otpauth://totp/")
    with container.sessions() as session:
        sealed = session.get(StaffMember, made.id).totp_secret_enc
    assert sealed is not None and secret.encode() not in sealed  # sealed, not stored plain
    for bad in ("12345", "abcdef", "1" * 40):
        r = client.post(
            "/api/v1/admin/auth/enrolment/confirm", json={"code": bad}, headers=enrolling
        )
        assert r.status_code in (401, 422), (bad, r.text)
    r = client.post(
        "/api/v1/admin/auth/enrolment/confirm", json={"code": 123456}, headers=enrolling
    )
    assert r.status_code == 422  # a number, not the text of a code
    code = pyotp.TOTP(secret).at(container.clock.now())
    r = client.post("/api/v1/admin/auth/enrolment/confirm", json={"code": code}, headers=enrolling)
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/api/v1/admin/me", headers=enrolling).status_code == 200
    with container.sessions() as session:
        stored = list(session.scalars(select(StaffRecoveryCode.code_hash)))
    assert len(stored) == 10 and not any(c in h for c in codes for h in stored)
    # Once enrolled, the password alone no longer signs in; enrolling again is refused.
    assert _token(client, "dora")["status"] == 401
    assert client.post("/api/v1/admin/auth/enrolment", headers=enrolling).status_code == 409


def test_another_members_code_does_not_confirm_an_enrolment(
    client: TestClient, container: Container
) -> None:
    other = ready_staff(container, "sam", "support")
    new_staff(container, "dora", "dpo")
    enrolling = {"Authorization": f"Bearer {_token(client, 'dora')['access_token']}"}
    assert client.post("/api/v1/admin/auth/enrolment", headers=enrolling).status_code == 200
    sams = code_for(container, other.id)
    body = {"code": sams, "staff_id": other.id}
    r = client.post("/api/v1/admin/auth/enrolment/confirm", json=body, headers=enrolling)
    assert r.status_code == 422  # no field names another member
    r = client.post("/api/v1/admin/auth/enrolment/confirm", json={"code": sams}, headers=enrolling)
    assert r.status_code == 401
    with container.sessions() as session:
        assert (
            session.scalar(
                select(StaffMember.totp_confirmed_at).where(StaffMember.username == "dora")
            )
            is None
        )


def test_a_code_signs_in_once_and_its_replay_is_refused(
    client: TestClient, container: Container
) -> None:
    made = ready_staff(container)
    code = code_for(container, made.id)
    assert _token(client, "dora", code)["status"] == 200
    replay = _token(client, "dora", code)
    assert (replay["status"], replay["error"]["code"]) == (401, "second_factor_failed")
    assert _token(client, "dora", "00000o")["status"] == 401  # malformed
    assert _token(client, "dora", "x" * 33)["status"] == 422  # oversized field


def test_a_recovery_code_works_once_and_its_use_is_audited(
    client: TestClient, container: Container
) -> None:
    made = ready_staff(container)
    recovery = RECOVERY[made.id][0]
    assert _token(client, "dora", recovery.upper())["status"] == 200
    assert _token(client, "dora", recovery)["status"] == 401
    with container.sessions() as session:
        used = list(
            session.scalars(
                select(AuditEntry.object).where(AuditEntry.action == "staff:recovery_code:used")
            )
        )
    assert len(used) == 1 and used[0].endswith(":left:9")
    assert recovery not in used[0]


def test_wrong_codes_count_on_the_sign_in_throttle(
    client: TestClient, container: Container
) -> None:
    made = ready_staff(container)
    for _ in range(container.settings.login_max_failures):
        assert _token(client, "dora", "000000")["status"] == 401
    refused = _token(client, "dora", code_for(container, made.id))
    assert refused["status"] == 429


def test_the_enrolment_page_shows_an_inline_svg_qr_code_and_confirms_with_a_code(
    client: TestClient, container: Container
) -> None:
    made = new_staff(container, "dora", "dpo")
    data = {"csrf": form_token(client, "/admin/login"), "username": "dora", "password": PASSWORD}
    r = client.post("/admin/login", data=data, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/enrol")
    assert client.get("/admin", follow_redirects=False).status_code == 303  # nothing else
    client.post("/admin/login", data=data, follow_redirects=False)  # the cookie again
    page = client.get("/admin/enrol")
    assert page.status_code == 200 and "<svg" in page.text and "<script" not in page.text
    assert _pending_secret(container, made.id) in page.text
    form = {"csrf": form_token(client, "/admin/enrol"), "code": "000000"}
    assert client.post("/admin/enrol", data=form).status_code == 401
    # Each showing of the page is a fresh secret: the one shown last is the one confirmed.
    form = {"csrf": form_token(client, "/admin/enrol")}
    SECRETS[made.id] = _pending_secret(container, made.id)
    form["code"] = code_for(container, made.id)
    done = client.post("/admin/enrol", data=form)
    assert done.status_code == 200, done.text
    assert done.text.count("<li><code>") == 10
    assert client.get("/admin", follow_redirects=False).status_code == 200


def _pending_secret(c: Container, staff_id: str) -> str:
    with c.sessions() as session:
        found = second_factor._secret_of(c, session.get(StaffMember, staff_id))
    assert found is not None
    return found
