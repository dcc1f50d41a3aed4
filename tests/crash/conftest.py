"""Crash tests: a real subprocess dies by SIGKILL at a named point, then MiniMaker restarts.

The restart is what `minimaker serve` does (start-up: migrations, ledger replay, sweep) and a
worker run, in a fresh container whose clock stands past the dead worker's lease (the job is
free to claim again) and, where strays are expected, past the sweep's grace age.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, text

from minimaker.adapters import audit_chain as audit
from minimaker.adapters.private_files import TEMP_PREFIX
from minimaker.bootstrap import build
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations import startup
from minimaker.settings import Settings
from tests.processes import process_env, run_module

ROOT = Path(__file__).resolve().parents[2]
Step = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def crash_env(settings: Settings) -> dict[str, str]:
    """The environment of a MiniMaker process on the test's data directory and databases."""
    return process_env(
        settings,
        MINIMAKER_GENERATION_MAX_RESOLUTION=str(settings.generation_max_resolution),
        MINIMAKER_MAX_UPLOAD_BYTES=str(settings.max_upload_bytes),
        MINIMAKER_MAX_IMAGE_PIXELS=str(settings.max_image_pixels),
        MINIMAKER_MAX_IMAGE_SIDE=str(settings.max_image_side),
    )


@pytest.fixture
def step(crash_env: dict[str, str]) -> Step:
    """Run one driver step in a subprocess, dying at `crash_at` if given."""

    def run(
        *args: str, crash_at: str | None = None, **more: str
    ) -> subprocess.CompletedProcess[str]:
        env = {**crash_env, **more}
        if crash_at is not None:
            env["MINIMAKER_CRASH_AT"] = crash_at
        return run_module("tests.crash.driver", *args, env=env)

    return run


def assert_killed(proc: subprocess.CompletedProcess[str]) -> None:
    """The step died by SIGKILL at its crash point (not by an error, not by finishing)."""
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])


def restart(settings: Settings, *, start: bool = True, swept: bool = True) -> Container:
    """A fresh process after the crash: start-up (if `start`) and a worker run, one lease later
    and, if `swept`, past the sweep's grace age (else the work must clean up after itself)."""
    later = ManualClock()
    later.advance(seconds=settings.job_lease_s + 60 + (settings.sweep_grace_s if swept else 0))
    c = build(settings, clock=later)
    if start:
        startup.prepare(c)
    Worker(c).run_until_idle()
    return c


def referenced_blobs(c: Container) -> set[str]:
    """Every blob a row of a declared table names (derived from the personal-data registry)."""
    with c.sessions() as s:
        return {
            blob_id
            for d in c.personal_data.with_blobs()
            for column in d.blobs
            for blob_id in s.scalars(select(getattr(d.table, column)))
        }


def assert_nothing_left_behind(c: Container) -> None:
    """No temp file, no orphan blob, no row naming a missing blob, a sound database and chain."""
    for folder in {c.settings.data_dir, c.settings.blob_dir}:
        strays = [p for p in folder.rglob("*") if p.name.startswith(TEMP_PREFIX)]
        assert strays == []
    stored, named = set(c.blobs.store.iter_ids()), referenced_blobs(c)
    assert stored - named == set(), "orphan blobs"
    assert named - stored == set(), "rows naming missing blobs"
    if c.engine.dialect.name == "sqlite":
        with c.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    audit.verify(c.engine)
