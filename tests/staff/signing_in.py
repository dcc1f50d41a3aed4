"""Staff members ready for work, and signing them in, for every test that needs staff.

A ready member has a confirmed TOTP second factor (enrolled with pyotp, the real algorithm),
current training and the policy in force acknowledged. Sign-ins send a code the member has
not used yet: the test clock stands still, so after the three steps the drift window allows
it is moved on by one step (30 s).
"""

from __future__ import annotations

from datetime import datetime

import pyotp
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.staff import second_factor, training
from minimaker.staff import service as staff
from minimaker.staff.tables import StaffMember
from tests.browser import form_token

PASSWORD = "staff password for tests"
TOKEN = "/api/v1/admin/auth/token"
Headers = dict[str, str]

#: Each enrolled member's TOTP secret and unused recovery codes, by staff id (ids are random).
SECRETS: dict[str, str] = {}
RECOVERY: dict[str, list[str]] = {}


def new_staff(
    c: Container,
    username: str,
    role: str,
    *,
    password: str = PASSWORD,
    expires: datetime | None = None,
) -> staff.StaffRead:
    """A staff account as created: no second factor, no training, no policy acknowledged."""
    return staff.create_staff(
        c, by=None, username=username, password=password, role=role, access_expires=expires
    )


def enrol(c: Container, username: str, *, password: str = PASSWORD) -> str:
    """Enrol a member's second factor through the service, as the enrolment steps do."""
    opened = staff.login(c, username=username, password=password, client_ip="192.0.2.10")
    assert opened.stage == "enrol"
    who = staff.authenticate_enrolling(c, opened.token)
    secret = staff.begin_enrolment(c, who=who).secret
    SECRETS[who.id] = secret
    codes = staff.confirm_enrolment(c, who=who, code=code_for(c, who.id), client_ip="192.0.2.10")
    RECOVERY[who.id] = list(codes)
    return who.id


def train(c: Container, staff_id: str) -> None:
    """Current training recorded, the policy in force acknowledged."""
    training.record_training(c, by=None, staff_id=staff_id)
    member = staff.StaffIdentity(id=staff_id, role="support")  # only the id is used
    training.acknowledge_policy(c, staff=member, version=c.policy.version)


def ready_staff(
    c: Container,
    username: str = "dora",
    role: str = "dpo",
    *,
    password: str = PASSWORD,
    expires: datetime | None = None,
) -> staff.StaffRead:
    """A member who may do all their role allows: second factor, training, policy."""
    made = new_staff(c, username, role, password=password, expires=expires)
    enrol(c, username, password=password)
    train(c, made.id)
    return made


def _last_step(c: Container, staff_id: str) -> int | None:
    with c.sessions() as session:
        return session.scalar(select(StaffMember.totp_last_step).where(StaffMember.id == staff_id))


def code_for(c: Container, staff_id: str) -> str:
    """A TOTP code of the member not yet used (moving the test clock one step if need be)."""
    totp = pyotp.TOTP(SECRETS[staff_id])
    while True:
        now_step = second_factor.totp_step(c.clock.now())
        last = _last_step(c, staff_id)
        for step in range(now_step - 1, now_step + 2):
            if last is None or step > last:
                return totp.at(step * second_factor.STEP_S)
        assert isinstance(c.clock, ManualClock)
        c.clock.advance(seconds=second_factor.STEP_S)


def staff_id_of(c: Container, username: str) -> str:
    with c.sessions() as session:
        found = session.scalar(select(StaffMember.id).where(StaffMember.username == username))
    assert found is not None, username
    return found


def full_login(c: Container, username: str = "dora", password: str = PASSWORD) -> staff.StaffToken:
    """A full staff session of a ready member through the service (password and a code)."""
    code = code_for(c, staff_id_of(c, username))
    return staff.login(c, username=username, password=password, client_ip="192.0.2.1", code=code)


def identity(c: Container, username: str = "dora", password: str = PASSWORD) -> staff.StaffIdentity:
    """A fresh full session of a ready member, through the service."""
    code = code_for(c, staff_id_of(c, username))
    issued = staff.login(c, username=username, password=password, client_ip="192.0.2.1", code=code)
    return staff.authenticate(c, issued.token)


def client_container(client: TestClient) -> Container:
    """The container a test client's app runs on."""
    found = client.app.state.container  # type: ignore[attr-defined]
    assert isinstance(found, Container)
    return found


def fresh_code(client: TestClient, username: str) -> str:
    """An unused code of a ready member, for a test client's app."""
    c = client_container(client)
    return code_for(c, staff_id_of(c, username))


def api_sign_in(client: TestClient, username: str = "dora", password: str = PASSWORD) -> Headers:
    """A fresh staff bearer token of a ready member, over HTTP, with password and code."""
    form = {"username": username, "password": password, "code": fresh_code(client, username)}
    r = client.post(TOKEN, data=form)
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "full"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def staff_headers(
    client: TestClient, c: Container, username: str = "dora", role: str = "dpo"
) -> Headers:
    """A ready member of `role`, signed in over HTTP."""
    ready_staff(c, username, role)
    return api_sign_in(client, username)


def browser_log_in(
    browser: TestClient, username: str = "dora", password: str = PASSWORD
) -> Response:
    """Post the staff sign-in form with password and a fresh code (not following redirects);
    a member not enrolled (or unknown) sends no code."""
    c = client_container(browser)
    code = code_for(c, staff_id_of(c, username)) if _enrolled(c, username) else ""
    data = {
        "csrf": form_token(browser, "/admin/login"),
        "username": username,
        "password": password,
        "code": code,
    }
    return browser.post("/admin/login", data=data, follow_redirects=False)


def _enrolled(c: Container, username: str) -> bool:
    with c.sessions() as session:
        row = session.scalar(select(StaffMember).where(StaffMember.username == username))
    return row is not None and row.id in SECRETS and row.totp_confirmed_at is not None
