"""Staff roles, accounts and sessions, the overdue alarm, and the `minimaker staff` commands."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.cli import app as cli_app
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import (
    AlreadyTaken,
    Conflict,
    InvalidCredentials,
    NotAuthenticated,
    TooManyAttempts,
    ValidationFailed,
)
from minimaker.rights import deadlines, decisions, intake
from minimaker.staff import service as staff
from minimaker.staff.rules import MATRIX, Action, Role, StaffForbidden, allows, parse_role, require
from tests.staff.signing_in import PASSWORD, enrol, full_login, identity, ready_staff


def make_staff(c: Container, username: str = "dora", role: str = "dpo") -> staff.StaffRead:
    """A ready member (second factor, training, policy): tests/staff/signing_in.py."""
    return ready_staff(c, username, role)


def audit_rows(c: Container) -> list[AuditEntry]:
    with c.sessions() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


# --- the permission matrix (pure) ----------------------------------------------------------


def test_the_dpo_sees_and_decides_on_requests_but_does_not_manage_staff() -> None:
    for action in (
        Action.VIEW_QUEUE,
        Action.VIEW_REQUEST,
        Action.RECORD_REQUEST,
        Action.EXTEND_REQUEST,
        Action.REJECT_REQUEST,
        Action.PAUSE_REQUEST,
        Action.RESUME_REQUEST,
    ):
        assert allows("dpo", action)
    assert not allows("dpo", Action.MANAGE_STAFF)


def test_support_sees_the_queue_and_records_requests_but_takes_no_legal_decision() -> None:
    assert allows("support", Action.VIEW_QUEUE)
    assert allows("support", Action.VIEW_REQUEST)
    assert allows("support", Action.RECORD_REQUEST)
    for decision in (
        Action.EXTEND_REQUEST,
        Action.REJECT_REQUEST,
        Action.PAUSE_REQUEST,
        Action.RESUME_REQUEST,
        Action.MANAGE_STAFF,
    ):
        assert not allows("support", decision)


def test_an_admin_manages_staff_and_sees_no_requests() -> None:
    # The record of processing holds no personal data (Art. 30): admins may read it; nor does
    # the security self-check's record (policy 5.1), which they may run.
    assert MATRIX[Role.ADMIN] == frozenset(
        {Action.MANAGE_STAFF, Action.VIEW_RECORD_OF_PROCESSING, Action.RUN_SELFCHECK}
    )


def test_every_role_has_an_entry_and_an_unknown_role_may_do_nothing() -> None:
    assert set(MATRIX) == set(Role)
    assert not any(allows("root", action) for action in Action)


def test_require_raises_a_403_that_names_the_role_and_action() -> None:
    require("dpo", Action.EXTEND_REQUEST)
    with pytest.raises(StaffForbidden) as caught:
        require("support", Action.EXTEND_REQUEST)
    assert caught.value.status == 403
    assert caught.value.message == "the support role may not extend request"


def test_a_role_is_parsed_from_input_or_refused_with_the_allowed_roles() -> None:
    assert parse_role("support") is Role.SUPPORT
    for bad in ("root", "", 3, None):
        with pytest.raises(ValidationFailed) as caught:
            parse_role(bad)
        assert caught.value.reason == "must be one of dpo, support, admin, engineer, contractor"


# --- accounts and sessions -------------------------------------------------------------------


def test_the_operator_creates_a_staff_account_and_it_is_audited_without_its_username(
    container: Container,
) -> None:
    member = make_staff(container, "Dora.DPO", "dpo")
    assert (member.username, member.role, member.disabled_at) == ("dora.dpo", "dpo", None)
    (entry,) = [e for e in audit_rows(container) if e.action == "staff:member:created"]
    assert (entry.actor, entry.object) == ("system:cli", f"staff:{member.id}:dpo")
    assert "dora" not in str(vars(entry)).lower()


def test_staff_usernames_are_unique_whatever_their_case(container: Container) -> None:
    make_staff(container, "dora")
    with pytest.raises(AlreadyTaken):
        make_staff(container, "DORA", "support")


def test_a_staff_account_needs_a_known_role_and_a_long_password(container: Container) -> None:
    with pytest.raises(ValidationFailed, match="role"):
        make_staff(container, "dora", "root")
    with pytest.raises(ValidationFailed, match="password"):
        staff.create_staff(container, by=None, username="dora", password="short", role="dpo")
    assert staff.list_staff(container, by=None) == []


def test_only_an_admin_creates_staff_and_a_refusal_is_audited(container: Container) -> None:
    make_staff(container, "ada-admin", "admin")
    make_staff(container, "dora", "dpo")
    admin, dpo = identity(container, "ada-admin"), identity(container, "dora")
    created = staff.create_staff(
        container, by=admin, username="sam", password=PASSWORD, role="support"
    )
    assert created.role == "support"
    with pytest.raises(StaffForbidden):
        staff.create_staff(container, by=dpo, username="eve", password=PASSWORD, role="admin")
    denied = [e for e in audit_rows(container) if e.action == "staff:access:denied"]
    assert [(e.actor, e.object) for e in denied] == [(f"staff:{dpo.id}", "action:manage_staff")]


def test_a_staff_token_names_its_member_and_current_role(container: Container) -> None:
    member = make_staff(container)
    who = identity(container)
    assert (who.id, who.role, str(who.actor)) == (member.id, "dpo", f"staff:{member.id}")


def test_a_wrong_password_is_refused_and_audited_without_the_name(container: Container) -> None:
    make_staff(container)
    with pytest.raises(InvalidCredentials):
        staff.login(container, username="dora", password="wrong" * 4, client_ip="192.0.2.1")
    with pytest.raises(InvalidCredentials):
        staff.login(container, username="nobody", password=PASSWORD, client_ip="192.0.2.1")
    failed = [e for e in audit_rows(container) if e.action == "staff:login:failed"]
    assert len(failed) == 2
    assert all("dora" not in str(vars(e)) and "nobody" not in str(vars(e)) for e in failed)


def test_staff_sign_in_is_rate_limited_apart_from_user_sign_in(container: Container) -> None:
    make_staff(container)
    for _ in range(container.settings.login_max_failures):
        with pytest.raises(InvalidCredentials):
            staff.login(container, username="dora", password="wrong" * 4, client_ip="192.0.2.9")
    with pytest.raises(TooManyAttempts):
        staff.login(container, username="dora", password=PASSWORD, client_ip="192.0.2.8")
    # A user of the same name is counted on their own key, so they can still sign in.
    accounts.signup(
        container, name="Dora User", email="dora@example.org", username="dora", password=PASSWORD
    )
    accounts.login(container, login="dora", password=PASSWORD, client_ip="192.0.2.7")


def test_a_user_token_is_not_a_staff_token_and_a_staff_token_is_not_a_user_token(
    container: Container,
) -> None:
    make_staff(container)
    accounts.signup(
        container, name="Ada", email="ada@example.org", username="ada", password=PASSWORD
    )
    user_token = accounts.login(
        container, login="ada", password=PASSWORD, client_ip="192.0.2.1"
    ).token
    staff_token = full_login(container, "dora").token
    with pytest.raises(NotAuthenticated):
        staff.authenticate(container, user_token)
    with pytest.raises(NotAuthenticated):
        accounts.authenticate(container, staff_token)


def test_disabling_an_account_ends_its_sessions_at_once(container: Container) -> None:
    make_staff(container, "ada-admin", "admin")
    member = make_staff(container, "dora", "dpo")
    admin = identity(container, "ada-admin")
    token = full_login(container, "dora")
    staff.disable_staff(container, by=admin, staff_id=member.id)
    with pytest.raises(NotAuthenticated):
        staff.authenticate(container, token.token)
    with pytest.raises(InvalidCredentials):
        staff.login(container, username="dora", password=PASSWORD, client_ip="192.0.2.1")
    with pytest.raises(Conflict):
        staff.disable_staff(container, by=admin, staff_id=admin.id)


def test_a_staff_session_ends_on_logout_and_when_its_lifetime_is_over(
    container: Container, clock: ManualClock
) -> None:
    make_staff(container)
    first = full_login(container, "dora")
    who = staff.authenticate(container, first.token)
    staff.logout(container, staff=who, token=first.token)
    with pytest.raises(NotAuthenticated):
        staff.authenticate(container, first.token)
    second = full_login(container, "dora")
    clock.advance(seconds=container.settings.token_ttl_s + 1)
    with pytest.raises(NotAuthenticated):
        staff.authenticate(container, second.token)


# --- the overdue alarm -------------------------------------------------------------------


def _subject(c: Container, username: str = "ada") -> str:
    profile = accounts.signup(
        c,
        name="Ada Lovelace",
        email=f"{username}@example.org",
        username=username,
        password=PASSWORD,
    )
    return profile.id


def test_days_left_rounds_down_so_a_deadline_today_reads_zero() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert deadlines.days_left(now + timedelta(days=6, hours=23), now) == 6
    assert deadlines.days_left(now + timedelta(hours=3), now) == 0
    assert deadlines.days_left(now - timedelta(hours=3), now) == -1


def test_the_overdue_alarm_is_a_registered_periodic_duty(container: Container) -> None:
    assert container.registries.duties["alert_overdue"] is deadlines.alert_overdue


def test_the_alarm_names_overdue_and_soon_due_requests_by_id_only(
    container: Container, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = _subject(container)
    late = intake.submit(container, user_id=user_id, type="access")
    clock.advance(days=10)
    soon = intake.submit(container, user_id=user_id, type="portability")
    clock.advance(days=25)
    fresh = intake.submit(container, user_id=user_id, type="objection")
    caplog.set_level(logging.WARNING, logger="minimaker.rights")

    assert deadlines.alert_overdue(container) == 1

    overdue_line, soon_line = (r.getMessage() for r in caplog.records)
    assert overdue_line == f"1 data-subject request(s) OVERDUE: {late.id}"
    assert soon_line == f"1 data-subject request(s) due within 7 days: {soon.id}"
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert fresh.id not in caplog.text
    for personal in ("Ada", "ada@example.org", user_id):
        assert personal not in caplog.text


def test_the_alarm_repeats_hourly_or_when_the_set_changes_not_on_every_tick(
    container: Container, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = _subject(container)
    intake.submit(container, user_id=user_id, type="access")
    clock.advance(days=40)
    caplog.set_level(logging.WARNING, logger="minimaker.rights")
    assert deadlines.alert_overdue(container) == 1
    assert deadlines.alert_overdue(container) == 1  # the count is always returned
    assert len(caplog.records) == 1
    intake.submit(container, user_id=user_id, type="erasure")
    clock.advance(days=32)
    deadlines.alert_overdue(container)
    assert caplog.records[-1].getMessage().startswith("2 data-subject request(s) OVERDUE")


def test_a_paused_request_is_not_overdue_until_resumed_with_its_due_date_moved(
    container: Container, clock: ManualClock
) -> None:
    make_staff(container)
    who = identity(container)
    request = intake.submit(container, user_id=_subject(container), type="access")
    decisions.pause(container, who, request_id=request.id, note="Which email?")
    clock.advance(days=40)  # waiting on the subject: the time does not count against us
    assert deadlines.alert_overdue(container) == 0
    assert deadlines.overdue_and_due_soon(container) == (0, 0)
    assert decisions.queue(container, who, overdue=True) == []
    resumed = decisions.resume(container, who, request_id=request.id)
    assert resumed.due_at == request.due_at + timedelta(days=40)
    assert deadlines.overdue_and_due_soon(container) == (0, 0)


def test_every_workers_periodic_tick_runs_the_alarm(
    container: Container, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    intake.submit(container, user_id=_subject(container), type="access")
    clock.advance(days=40)
    caplog.set_level(logging.WARNING, logger="minimaker.rights")
    assert Worker(container).run_duties()["alert_overdue"] == 1
    assert "OVERDUE" in caplog.text


def test_the_alarm_is_silent_and_returns_zero_without_open_requests(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert deadlines.alert_overdue(container) == 0
    assert caplog.records == []


# --- each decision is one unit of work ------------------------------------------------------


@contextmanager
def commits(c: Container) -> Iterator[list[Session]]:
    """Every commit of a data-database session made while the block runs."""
    seen: list[Session] = []

    def count(session: Session) -> None:
        seen.append(session)

    event.listen(c.sessions, "after_commit", count)
    try:
        yield seen
    finally:
        event.remove(c.sessions, "after_commit", count)


Decision = Callable[[Container, staff.StaffIdentity, str], decisions.StaffRequestView]
DECISIONS: dict[str, Decision] = {
    "viewed": lambda c, who, rid: decisions.get_request(c, who, request_id=rid),
    "extended": lambda c, who, rid: decisions.extend(
        c, who, request_id=rid, months=1, reason="The archive holds many models."
    ),
    "rejected": lambda c, who, rid: decisions.reject(
        c, who, request_id=rid, reason="The same request was answered last week."
    ),
    "paused": lambda c, who, rid: decisions.pause(c, who, request_id=rid, note="Which email?"),
    "resumed": lambda c, who, rid: decisions.resume(c, who, request_id=rid),
}


@pytest.mark.parametrize("verb", sorted(DECISIONS))
def test_a_decision_commits_once_with_its_change_event_and_both_audit_entries(
    container: Container, verb: str
) -> None:
    make_staff(container)
    who = identity(container)
    request = intake.submit(container, user_id=_subject(container), type="access")
    if verb == "resumed":
        decisions.pause(container, who, request_id=request.id, note="Which email?")
    before = len(audit_rows(container))

    with commits(container) as seen:
        view = DECISIONS[verb](container, who, request.id)

    assert len(seen) == 1
    actions = [e.action for e in audit_rows(container)[before:]]
    assert f"staff:request:{verb}" in actions
    if verb != "viewed":
        assert any(a.startswith("rights:request:") for a in actions), actions
        assert len(view.events) > len(request.events)  # the lifecycle event, in the same unit


def test_recording_on_a_subjects_behalf_commits_once_with_both_audit_entries(
    container: Container,
) -> None:
    make_staff(container, "sam", "support")
    _subject(container)
    sam = identity(container, "sam")
    with commits(container) as seen:
        answer = decisions.record(container, sam, email="ada@example.org", type="access")
    assert len(seen) == 1
    actions = [e.action for e in audit_rows(container)]
    assert {"rights:request:received", "staff:request:recorded"} <= set(actions)
    # Support vouches for no one: the subject confirms by the link to the address on file.
    assert "rights:request:verified" not in actions
    assert answer == decisions.RECORDED


def test_a_refused_decision_changes_and_audits_nothing_but_the_refusal(
    container: Container,
) -> None:
    make_staff(container, "sam", "support")
    request = intake.submit(container, user_id=_subject(container), type="access")
    before = len(audit_rows(container))
    with pytest.raises(StaffForbidden):
        decisions.extend(
            container, identity(container, "sam"), request_id=request.id, months=1, reason="x" * 12
        )
    actions = [e.action for e in audit_rows(container)[before:]]
    assert actions == ["staff:session:created", "staff:access:denied"]
    assert intake.get_any(container, request_id=request.id).extended_months == 0


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(container: Container, tmp_path: Path, master_key: str) -> dict[str, str]:
    s = container.settings
    return {
        "MINIMAKER_DATA_DIR": str(s.data_dir),
        "MINIMAKER_DATABASE_URL": s.resolved_database_url(),
        "MINIMAKER_KEYSTORE_URL": s.resolved_keystore_url(),
        "MINIMAKER_MASTER_KEY": master_key,
    }


def test_the_cli_creates_a_staff_member_with_the_password_from_the_environment(
    container: Container, cli_env: dict[str, str]
) -> None:
    runner = CliRunner()
    env = {**cli_env, "MINIMAKER_STAFF_PASSWORD": PASSWORD}
    done = runner.invoke(
        cli_app, ["staff", "create", "--username", "dora", "--role", "dpo"], env=env
    )
    assert done.exit_code == 0, done.output
    assert PASSWORD not in done.output
    (member,) = staff.list_staff(container, by=None)
    assert done.output.strip() == f"created staff {member.id} (dpo)"
    enrol(container, "dora")
    assert identity(container, "dora").role == "dpo"

    listed = runner.invoke(cli_app, ["staff", "list"], env=cli_env)
    assert listed.exit_code == 0, listed.output
    assert member.id in listed.output and "dora" in listed.output and "active" in listed.output


def test_the_cli_prompts_for_the_password_twice_when_none_is_in_the_environment(
    container: Container, cli_env: dict[str, str]
) -> None:
    done = CliRunner().invoke(
        cli_app,
        ["staff", "create", "--username", "sam", "--role", "support"],
        env=cli_env,
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert done.exit_code == 0, done.output
    assert PASSWORD not in done.output
    assert [m.role for m in staff.list_staff(container, by=None)] == ["support"]


def test_the_cli_refuses_an_unknown_role_with_a_clear_error(
    container: Container, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "MINIMAKER_STAFF_PASSWORD": PASSWORD}
    done = CliRunner().invoke(
        cli_app, ["staff", "create", "--username", "dora", "--role", "root"], env=env
    )
    assert done.exit_code != 0
    assert isinstance(done.exception, ValidationFailed)
    assert staff.list_staff(container, by=None) == []
