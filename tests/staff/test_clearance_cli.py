"""`minimaker staff create|grant|train` as the operator runs them (policy 5.2, 11.2).

Each command runs through the console entry point (`cli.main`, which wraps the typer app the
way the `minimaker` script does) inside click's CliRunner isolation, against the test's real
database: a change stands in the staff row and in the audit, by `system:cli`; a refusal is
exit code 2 and one `error:` line naming what is wrong, and writes nothing.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.cli import main
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.staff import subject_access, training
from minimaker.staff.rules import NotCleared, Reason, ReasonCode
from minimaker.staff.service import StaffIdentity
from minimaker.staff.tables import StaffMember
from tests.staff.signing_in import PASSWORD, enrol, identity, new_staff

Env = dict[str, str]
UNKNOWN = "0" * 32
ROLES = "dpo, support, admin, engineer, contractor"


@pytest.fixture
def env(container: Container, tmp_path: Path, master_key: str) -> Env:
    """What the operator's shell holds: the test's database, key store and master key."""
    s = container.settings
    return {
        "MINIMAKER_DATA_DIR": str(s.data_dir),
        "MINIMAKER_DATABASE_URL": s.resolved_database_url(),
        "MINIMAKER_KEYSTORE_URL": s.resolved_keystore_url(),
        "MINIMAKER_MASTER_KEY": master_key,
        "MINIMAKER_STAFF_PASSWORD": PASSWORD,
        # Hash strength is not under test; the fixtures' cheap argon2id keeps this fast.
        "MINIMAKER_ARGON2_TIME_COST": "1",
        "MINIMAKER_ARGON2_MEMORY_KIB": "1024",
        "MINIMAKER_ARGON2_PARALLELISM": "1",
    }


def minimaker(monkeypatch: pytest.MonkeyPatch, env: Env, *args: str) -> tuple[int, str, str]:
    """Run `minimaker <args>`: (exit code, stdout, stderr with its whitespace folded)."""
    monkeypatch.setattr(sys, "argv", ["minimaker", *args])
    with CliRunner().isolation(env=env) as (out, err, _):
        with pytest.raises(SystemExit) as done:
            main()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return int(done.value.code or 0), stdout, " ".join(stderr.split())


def member(c: Container, staff_id: str) -> StaffMember:
    with c.sessions() as session:
        row = session.get(StaffMember, staff_id)
    assert row is not None
    return row


def members(c: Container) -> list[tuple[object, ...]]:
    """Every staff row as the commands could change it."""
    with c.sessions() as session:
        rows = session.scalars(select(StaffMember).order_by(StaffMember.username))
        return [
            (r.id, r.username, r.role, r.access_expires_at, r.trained_at, r.training_expires_at)
            for r in rows
        ]


def audit_count(c: Container) -> int:
    with c.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def last_audit(c: Container) -> tuple[str, str, str | None]:
    with c.sessions() as session:
        e = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
        return e.action, e.actor, e.object


def end_of(day: date) -> datetime:
    """Midnight UTC after `day`: when access given "until `day`" ends."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def refused(monkeypatch: pytest.MonkeyPatch, env: Env, c: Container, *args: str) -> str:
    """Run a command that must be refused: exit 2, one error line, nothing written."""
    before, entries = members(c), audit_count(c)
    code, _, err = minimaker(monkeypatch, env, *args)
    assert code == 2, err
    assert (members(c), audit_count(c)) == (before, entries)
    assert "Traceback" not in err
    return err


# --- staff create --------------------------------------------------------------------------


def test_create_makes_a_member_of_one_role_untrained_and_audits_it_as_the_operator(
    container: Container, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = minimaker(monkeypatch, env, "staff", "create", "--username", "sam",
                             "--role", "support")  # fmt: skip
    assert code == 0
    [(staff_id, name, role, expires, trained, trained_until)] = members(container)
    assert out.strip() == f"created staff {staff_id} (support)"
    assert (name, role, expires, trained, trained_until) == ("sam", "support", None, None, None)
    assert last_audit(container) == (
        "staff:member:created",
        "system:cli",
        f"staff:{staff_id}:support",
    )


def test_create_gives_a_contractor_access_until_the_end_of_the_last_day_stated(
    container: Container, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    last_day = date.today() + timedelta(days=30)
    code, _, err = minimaker(monkeypatch, env, "staff", "create", "--username", "cyd",
                             "--role", "contractor", "--expires", last_day.isoformat())  # fmt: skip
    assert code == 0, err
    [(staff_id, _, role, expires, _, _)] = members(container)
    assert (role, expires) == ("contractor", end_of(last_day))
    assert last_audit(container) == (
        "staff:member:created",
        "system:cli",
        f"staff:{staff_id}:contractor",
    )


@pytest.mark.parametrize(
    ("role", "expires", "message"),
    [
        ("contractor", None, "access_expires: is required for a contractor"),
        ("contractor", "2001-01-01", "access_expires: must be in the future"),
        ("contractor", "2999-01-01", "access_expires: must be at most 1098 days ahead"),
        ("contractor", "30/06/2030", "expires: must be a date, YYYY-MM-DD"),
        ("contractor", "9999-12-31", "expires: must be a date, YYYY-MM-DD"),
        ("support", "2001-01-01", "access_expires: is only for contractors"),
        ("root", None, f"role: must be one of {ROLES}"),
    ],
)
def test_create_refuses_a_bad_role_or_term_in_one_line_and_writes_nothing(
    container: Container,
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    role: str,
    expires: str | None,
    message: str,
) -> None:
    term = ["--expires", expires] if expires else []
    args = ["staff", "create", "--username", "cyd", "--role", role, *term]
    assert refused(monkeypatch, env, container, *args) == f"error: {message}"
    assert members(container) == []


# --- staff grant ---------------------------------------------------------------------------


@pytest.fixture
def team(container: Container, clock: ManualClock) -> dict[str, str]:
    """A support member and a contractor a week from the end of their term."""
    sam = new_staff(container, "sam", "support")
    cyd = new_staff(container, "cyd", "contractor", expires=clock.now() + timedelta(days=7))
    return {"sam": sam.id, "cyd": cyd.id}


def test_grant_changes_a_role_and_the_change_stands_in_the_audit(
    container: Container, env: Env, monkeypatch: pytest.MonkeyPatch, team: dict[str, str]
) -> None:
    sam = team["sam"]
    code, out, err = minimaker(monkeypatch, env, "staff", "grant", sam, "--role", "dpo")
    assert code == 0, err
    assert out.split() == [sam, "dpo", "not", "trained"]
    assert (member(container, sam).role, member(container, sam).access_expires_at) == ("dpo", None)
    assert last_audit(container) == ("staff:member:granted", "system:cli", f"staff:{sam}:dpo")


def test_grant_extends_a_contractors_term_and_another_role_drops_it(
    container: Container, env: Env, monkeypatch: pytest.MonkeyPatch, team: dict[str, str]
) -> None:
    cyd, last_day = team["cyd"], date.today() + timedelta(days=90)
    code, out, err = minimaker(monkeypatch, env, "staff", "grant", cyd,
                               "--expires", last_day.isoformat())  # fmt: skip
    assert code == 0, err
    until = end_of(last_day)
    assert f"access until {until:%Y-%m-%d %H:%M}" in out
    assert (member(container, cyd).role, member(container, cyd).access_expires_at) == (
        "contractor",
        until,
    )
    granted = f"staff:{cyd}:contractor:until:{until:%Y-%m-%d}"
    assert last_audit(container) == ("staff:member:granted", "system:cli", granted)
    code, _, err = minimaker(monkeypatch, env, "staff", "grant", cyd, "--role", "support")
    assert code == 0, err
    assert (member(container, cyd).role, member(container, cyd).access_expires_at) == (
        "support",
        None,
    )
    assert last_audit(container) == ("staff:member:granted", "system:cli", f"staff:{cyd}:support")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sam", "--role", "contractor"], "access_expires: is required for a contractor"),
        (["sam", "--expires", "2099-01-01"], "access_expires: is only for contractors"),
        (["cyd", "--expires", "2001-01-01"], "access_expires: must be in the future"),
        (["cyd", "--expires", "2999-01-01"], "access_expires: must be at most 1098 days ahead"),
        (["cyd", "--expires", "9999-12-31"], "expires: must be a date, YYYY-MM-DD"),
        (["cyd", "--expires", "2030-02-30"], "expires: must be a date, YYYY-MM-DD"),
        (["cyd"], "grant: give --role, --expires or both"),
        (["sam", "--role", "root"], f"role: must be one of {ROLES}"),
        ([UNKNOWN, "--role", "dpo"], "staff member not found"),
        (["not-an-id", "--role", "dpo"], "staff member not found"),
    ],
)
def test_grant_refuses_in_one_line_and_leaves_members_and_audit_as_they_were(
    container: Container,
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    team: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    named = [team.get(a, a) for a in args]
    assert refused(monkeypatch, env, container, "staff", "grant", *named) == f"error: {message}"


# --- staff train ---------------------------------------------------------------------------


def test_train_records_the_day_and_how_long_the_training_stays_current(
    container: Container, env: Env, monkeypatch: pytest.MonkeyPatch, team: dict[str, str]
) -> None:
    sam, day = team["sam"], date.today() - timedelta(days=10)
    code, out, err = minimaker(monkeypatch, env, "staff", "train", sam, "--on", day.isoformat(),
                               "--valid-days", "30")  # fmt: skip
    assert code == 0, err
    on = end_of(day) - timedelta(days=1)
    row = member(container, sam)
    assert (row.trained_at, row.training_expires_at) == (on, on + timedelta(days=30))
    assert f"trained until {on + timedelta(days=30):%Y-%m-%d}" in out
    recorded = f"staff:{sam}:until:{on + timedelta(days=30):%Y-%m-%d}"
    assert last_audit(container) == ("staff:training:recorded", "system:cli", recorded)


def test_train_clears_an_acknowledged_member_for_personal_data_for_a_year(
    container: Container, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = accounts.signup(container, name="Ada Lovelace", email="ada@example.org",
                          username="ada", password=PASSWORD).id  # fmt: skip
    sam = new_staff(container, "sam", "support").id
    enrol(container, "sam")
    training.acknowledge_policy(
        container, staff=StaffIdentity(id=sam, role="support"), version=container.policy.version
    )
    reason = Reason(ReasonCode.USER_SUPPORT)
    with pytest.raises(NotCleared, match="training"):
        subject_access.read_profile(container, identity(container, "sam"), subject_id=ada,
                                    reason=reason)  # fmt: skip
    code, _, err = minimaker(monkeypatch, env, "staff", "train", sam)
    assert code == 0, err
    row = member(container, sam)
    assert row.trained_at is not None and row.training_expires_at is not None
    assert row.training_expires_at - row.trained_at == timedelta(days=365)
    assert abs(row.trained_at - datetime.now(UTC)) < timedelta(minutes=5)
    read = subject_access.read_profile(container, identity(container, "sam"), subject_id=ada,
                                       reason=reason)  # fmt: skip
    assert read.username == "ada"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sam", "--on", "01/05/2024"], "on: must be a date, YYYY-MM-DD"),
        (["sam", "--on", "9999-12-31"], "on: must be a date, YYYY-MM-DD"),
        (["sam", "--on", "2999-01-01"], "trained_at: cannot be in the future"),
        (
            ["sam", "--on", "2001-01-01"],
            "trained_at: is more than 365 days ago: that training is not current",
        ),
        (["sam", "--valid-days", "0"], "valid_days: must be 1 to 1098"),
        (["sam", "--valid-days", "5000"], "valid_days: must be 1 to 1098"),
        ([UNKNOWN], "staff member not found"),
        (["not-an-id"], "staff member not found"),
    ],
)
def test_train_refuses_in_one_line_and_leaves_members_and_audit_as_they_were(
    container: Container,
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    team: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    named = [team.get(a, a) for a in args]
    assert refused(monkeypatch, env, container, "staff", "train", *named) == f"error: {message}"


def test_train_refuses_a_number_of_days_that_is_no_number_before_touching_anything(
    container: Container, env: Env, monkeypatch: pytest.MonkeyPatch, team: dict[str, str]
) -> None:
    err = refused(monkeypatch, env, container, "staff", "train", team["sam"], "--valid-days", "a")
    assert "Invalid value for '--valid-days'" in err and "valid integer" in err
