"""The security self-check (policy 5.1): it passes on a clean install, fails on a key file
others can read, a tampered or truncated audit chain and an orphaned blob, and keeps each run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.crypto.keys import generate_key
from minimaker.bootstrap import build, registries
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations import selfcheck
from minimaker.operations.selfcheck import RunRead, Trigger
from minimaker.operations.selfcheck_checks import Status
from minimaker.operations.tables import SelfcheckRun
from minimaker.rights import intake
from minimaker.settings import Settings
from minimaker.staff import service as staff
from tests.adapters.audit_helpers import cut_tail, tamper

NAMES = [
    "master_key_source",
    "master_key_file",
    "data_dirs",
    "tls",
    "debug",
    "residency",
    "audit_chain",
    "orphan_blobs",
    "orphan_keys",
    "overdue_requests",
    "retention_backlog",
    "staff_training",
    "processor_dpas",
    "dependencies",
]


def run(c: Container) -> RunRead:
    return selfcheck.run_selfcheck(c, selfcheck.wired(c), trigger=Trigger.CLI)


def status(r: RunRead, name: str) -> Status:
    return {check.name: check.status for check in r.checks}[name]


def message(r: RunRead, name: str) -> str:
    return {check.name: check.message for check in r.checks}[name]


def failed(r: RunRead) -> list[str]:
    return [check.name for check in r.checks if check.status is Status.FAIL]


@pytest.fixture
def key_file_container(settings: Settings, clock: ManualClock) -> Iterator[Container]:
    """A container without MINIMAKER_MASTER_KEY: bootstrap makes the local key file, 0600."""
    c = build(settings.model_copy(update={"master_key": None}), clock=clock)
    try:
        yield c
    finally:
        c.close()


def test_a_clean_install_passes_every_check_that_can_fail(container: Container) -> None:
    r = run(container)
    assert [check.name for check in r.checks] == NAMES
    assert failed(r) == []
    assert r.passed
    # The key comes from the environment here; pip-audit is not installed in this venv.
    assert status(r, "master_key_file") is Status.SKIPPED
    assert status(r, "audit_chain") is Status.PASS
    assert status(r, "orphan_blobs") is Status.PASS


def test_a_fresh_local_key_file_passes_with_a_warning_about_its_place(
    key_file_container: Container,
) -> None:
    r = run(key_file_container)
    assert r.passed
    assert status(r, "master_key_file") is Status.PASS
    assert "0600" in message(r, "master_key_file")
    assert status(r, "master_key_source") is Status.WARN


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_file_readable_by_others_fails(key_file_container: Container, mode: int) -> None:
    path = key_file_container.settings.resolved_master_key_file()
    path.chmod(mode)
    r = run(key_file_container)
    assert not r.passed
    assert failed(r) == ["master_key_file"]
    assert f"{mode:04o}" in message(r, "master_key_file")


def test_a_data_dir_open_to_others_fails(container: Container) -> None:
    container.settings.data_dir.chmod(0o755)
    try:
        r = run(container)
    finally:
        container.settings.data_dir.chmod(0o700)
    assert failed(r) == ["data_dirs"]


def test_a_tampered_audit_chain_fails(container: Container) -> None:
    run(container)  # entries and checkpoints to tamper with
    tamper(container.engine, "UPDATE audit_log SET actor = 'staff:9999' WHERE seq = 1")
    r = run(container)
    assert failed(r) == ["audit_chain"]
    assert "broken" in message(r, "audit_chain")


def test_a_truncated_audit_chain_fails(container: Container) -> None:
    run(container)
    run(container)  # a second checkpoint, further along the chain
    cut_tail(container.engine, 1)  # the tail cut and the head moved back to match
    r = run(container)
    assert failed(r) == ["audit_chain"]
    assert "truncated" in message(r, "audit_chain")


def put_orphan(c: Container) -> str:
    return c.blobs.put_bytes(generate_key(), b"nobody's ciphertext").blob_id


def test_an_orphaned_blob_fails_once_older_than_the_sweep_grace(
    container: Container, clock: ManualClock
) -> None:
    put_orphan(container)
    assert run(container).passed  # a write in progress, as far as anyone can tell
    clock.advance(seconds=container.settings.sweep_grace_s + 60)
    r = run(container)
    assert failed(r) == ["orphan_blobs"]
    assert message(r, "orphan_blobs").startswith("1 blob(s)")
    assert len(list(container.blobs.store.iter_ids())) == 1  # counted, never deleted


def test_a_blob_a_row_names_is_no_orphan(container: Container, clock: ManualClock) -> None:
    profile = accounts.signup(
        container,
        name="Ada Lovelace",
        email="ada@example.org",
        username="ada",
        password="correct horse battery staple",
    )
    assert profile.id
    clock.advance(seconds=container.settings.sweep_grace_s + 60)
    assert status(run(container), "orphan_keys") is Status.PASS
    assert status(run(container), "orphan_blobs") is Status.PASS


def test_a_data_key_no_row_names_is_a_warning(container: Container, clock: ManualClock) -> None:
    container.keys.create_subject_key("b" * 32, now=clock.now())
    clock.advance(seconds=container.settings.sweep_grace_s + 60)
    r = run(container)
    assert status(r, "orphan_keys") is Status.WARN
    assert r.passed


def test_an_overdue_request_fails(container: Container, clock: ManualClock) -> None:
    profile = accounts.signup(
        container,
        name="Ada Lovelace",
        email="ada@example.org",
        username="ada",
        password="correct horse battery staple",
    )
    intake.submit(container, user_id=profile.id, type="access")
    clock.advance(days=25)
    assert status(run(container), "overdue_requests") is Status.WARN
    clock.advance(days=10)
    r = run(container)
    assert "overdue_requests" in failed(r)
    assert message(r, "overdue_requests").startswith("1 rights request(s) past")


def test_a_member_with_access_but_no_training_is_a_warning(container: Container) -> None:
    staff.create_staff(
        container, by=None, username="sam", password="a long staff password!", role="support"
    )
    r = run(container)
    assert status(r, "staff_training") is Status.WARN
    assert message(r, "staff_training").startswith("1 member(s)")


def test_a_retention_backlog_above_the_threshold_is_a_warning(
    settings: Settings, clock: ManualClock
) -> None:
    # Threshold 0: the one sign-up left unconfirmed past its rule's cutoff is a backlog.
    c = build(settings.model_copy(update={"selfcheck_retention_backlog": 0}), clock=clock)
    try:
        accounts.signup(
            c,
            name="Ada Lovelace",
            email="ada@example.org",
            username="ada",
            password="correct horse battery staple",
        )
        clock.advance(days=3 * 366)
        r = run(c)
    finally:
        c.close()
    assert status(r, "retention_backlog") is Status.WARN


def test_each_run_is_kept_and_audited_with_counts_only(container: Container) -> None:
    r = run(container)
    with container.sessions() as session:
        row = session.get(SelfcheckRun, r.id)
        audited = session.scalars(
            select(AuditEntry.object).where(AuditEntry.action == "operations:selfcheck:ran")
        ).all()
    assert row is not None and row.trigger == "cli" and row.passed
    assert [x["name"] for x in row.results] == NAMES
    assert audited == [f"run:{r.id}:fail:0:warn:0:skipped:2"]
    assert [x.id for x in selfcheck.recent_runs(container, by=None)] == [r.id]


def runs_of(c: Container, trigger: str) -> int:
    with c.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(SelfcheckRun)
                .where(SelfcheckRun.trigger == trigger)
            )
            or 0
        )


def test_the_duty_runs_once_per_interval_on_the_containers_clock(
    container: Container, clock: ManualClock
) -> None:
    duty = container.registries.duties["selfcheck"]
    interval = container.settings.selfcheck_interval_s
    assert duty(container) == 1
    assert duty(container) == 0
    clock.advance(seconds=interval - 1)
    assert duty(container) == 0
    # Another worker's duty (its own registries) sees the recorded run and waits too.
    assert registries().duties["selfcheck"](container) == 0
    clock.advance(seconds=2)
    assert duty(container) == 1
    assert runs_of(container, "schedule") == 2


def test_the_duty_is_registered_with_the_worker_duties(container: Container) -> None:
    counts = container.registries.run_duties(container)
    assert counts["selfcheck"] == 1
    assert runs_of(container, "schedule") == 1


def test_a_failing_scheduled_run_is_recorded_as_failed(
    container: Container, clock: ManualClock
) -> None:
    put_orphan(container)
    clock.advance(seconds=container.settings.sweep_grace_s + 60)
    assert container.registries.duties["selfcheck"](container) == 1
    (latest,) = selfcheck.recent_runs(container, by=None)
    assert (latest.trigger, latest.passed) == ("schedule", False)


def test_no_message_names_a_person(container: Container, tmp_path: Path) -> None:
    profile = accounts.signup(
        container,
        name="Ada Lovelace",
        email="ada@example.org",
        username="ada",
        password="correct horse battery staple",
    )
    intake.submit(container, user_id=profile.id, type="access")
    text = str(run(container).as_dict())
    for personal in ("Ada", "ada@example.org", profile.id):
        assert personal not in text
