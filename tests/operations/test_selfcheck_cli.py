"""`minimaker selfcheck` in a process of its own, as cron or CI runs it: exit 0 on a clean
install, 1 on any failed check (with JSON a machine can read), 2 for a usage error."""

from __future__ import annotations

import json
import os
from typing import Any

from minimaker.adapters.crypto.keys import generate_key
from minimaker.bootstrap import build
from minimaker.kernel.container import Container
from minimaker.operations import selfcheck
from minimaker.settings import Settings
from tests.processes import minimaker, process_env


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def test_a_clean_install_exits_0_and_its_run_is_kept(
    container: Container, settings: Settings
) -> None:
    done = minimaker("selfcheck", "--json", env=process_env(settings))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] is True and report["trigger"] == "cli"
    assert report["counts"]["fail"] == 0
    assert set(report["counts"]) == {"pass", "fail", "warn", "skipped"}
    assert "fail" not in statuses(report).values()
    assert [r.id for r in selfcheck.recent_runs(container, by=None)] == [report["id"]]


def test_the_table_is_the_default_output(container: Container, settings: Settings) -> None:
    done = minimaker("selfcheck", env=process_env(settings))
    assert done.returncode == 0, done.stderr
    assert "Security self-check passed" in done.stdout
    assert "audit_chain" in done.stdout


def test_an_orphaned_blob_exits_1_with_parseable_json(
    container: Container, settings: Settings
) -> None:
    blob = container.blobs.put_bytes(generate_key(), b"nobody's ciphertext").blob_id
    path = settings.blob_dir / blob[:2] / blob
    assert path.is_file()
    old = path.stat().st_mtime - settings.sweep_grace_s - 60
    os.utime(path, (old, old))  # written before the sweep's grace: no write in progress
    done = minimaker("selfcheck", "--json", env=process_env(settings))
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] is False
    assert statuses(report)["orphan_blobs"] == "fail"
    assert report["id"] is not None  # a failed run is kept too


def test_a_world_readable_key_file_exits_1_and_says_why(settings: Settings) -> None:
    local = settings.model_copy(update={"master_key": None})
    build(local).close()  # makes the local key file, 0600
    key_file = local.resolved_master_key_file()
    key_file.chmod(0o644)
    done = minimaker("selfcheck", "--json", env=process_env(local, MINIMAKER_MASTER_KEY=""))
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    found = statuses(report)
    assert found["master_key_file"] == "fail"
    # The service itself refuses such a key file, so the run cannot be kept: it says so.
    assert found["startup"] == "fail"
    assert report["id"] is None


def test_a_usage_error_exits_2(settings: Settings) -> None:
    done = minimaker("selfcheck", "--no-such-option", env=process_env(settings))
    assert done.returncode == 2


def test_a_configuration_error_exits_2(settings: Settings) -> None:
    env = process_env(settings, MINIMAKER_SELFCHECK_INTERVAL_S="-1")
    done = minimaker("selfcheck", "--json", env=env)
    assert done.returncode == 2
    assert "MINIMAKER_SELFCHECK_INTERVAL_S" in done.stderr
