"""`minimaker retention run|hold|release|holds` as an operator types them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from minimaker.entrypoints.cli import app
from minimaker.generation import usage
from minimaker.generation.tables import UsageEvent
from minimaker.kernel.container import Container
from minimaker.retention.tables import LegalHold
from minimaker.settings import Settings
from tests.processes import process_env
from tests.retention.world import signup


def _cli(settings: Settings, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, list(args), env=process_env(settings))
    return done.exit_code, done.output


def _old_events(c: Container, subject_id: str, n: int) -> None:
    with c.uow() as uow:
        at = c.clock.now() - timedelta(days=91)
        for _ in range(n):
            usage.record(uow, subject_id=subject_id, event="page.viewed", at=at)
        uow.commit()


def _count(c: Container, table: type) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_a_dry_run_reports_per_category_and_removes_nothing_then_a_run_removes(
    settings: Settings, container: Container
) -> None:
    _old_events(container, signup(container, "ada"), 3)
    code, out = _cli(settings, "retention", "run", "--dry-run")
    assert code == 0, out
    line = next(x for x in out.splitlines() if "usage_events" in x)
    assert "usage_event" in line and " 3 " in line and "would remove" in out
    assert _count(container, UsageEvent) == 3
    code, out = _cli(settings, "retention", "run", "--rule", "usage_events")
    assert code == 0, out
    assert "removed" in out and _count(container, UsageEvent) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--rule", "thumbnails"), "no such rule in the policy file: thumbnails"),
        (("hold", "0" * 32, "--reason", "boss", "--reference", "C-1"), "unknown hold reason"),
        (("hold", "0" * 32, "--reason", "litigation", "--reference", "Ada's case"), "case number"),
        (("hold", "ada", "--reason", "litigation", "--reference", "C-1"), "32 hex digits"),
        (
            ("hold", "0" * 32, "--rule", "nope", "--reason", "statutory", "--reference", "C-1"),
            "a rule of the policy file",
        ),
        (("release", "f" * 32), "no such hold"),
    ],
)
def test_bad_input_is_one_clear_error_and_changes_nothing(
    settings: Settings, container: Container, args: tuple[str, ...], message: str
) -> None:
    code, out = _cli(settings, "retention", *args)
    assert code == 2 and message in " ".join(out.split()), out
    assert _count(container, LegalHold) == 0


def test_a_hold_is_set_listed_and_released(settings: Settings, container: Container) -> None:
    ada = signup(container, "ada")
    code, out = _cli(
        settings,
        "retention",
        "hold",
        ada,
        "--rule",
        "photos",
        "--reason",
        "litigation",
        "--reference",
        "CASE-2026/17",
    )
    assert code == 0, out
    hold_id = out.split()[1]
    code, out = _cli(settings, "retention", "holds")
    assert f"{hold_id} {ada} photos litigation CASE-2026/17" in out
    code, out = _cli(settings, "retention", "release", hold_id)
    assert code == 0 and _count(container, LegalHold) == 0
