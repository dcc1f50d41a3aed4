"""The deployment files say only what the code reads: every MINIMAKER_* variable the compose
file sets is a setting, and the image runs commands the CLI has (issue 13, item 3; they cannot
be run here, there being no container engine)."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from minimaker.entrypoints.cli import app
from minimaker.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _services() -> dict[str, dict[str, object]]:
    found = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert isinstance(found, dict)
    return found


def test_every_variable_the_compose_file_sets_is_a_setting() -> None:
    anchor = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["x-minimaker"]
    names = {k for k in anchor["environment"] if k.startswith("MINIMAKER_")}
    assert names, "the shared environment was read"
    settings = {f"MINIMAKER_{name.upper()}" for name in Settings.model_fields}
    assert names - settings == set()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    image_env = {w.split("=")[0] for w in dockerfile.split() if w.startswith("MINIMAKER_")}
    assert image_env and image_env - settings == set()


def test_the_topology_is_two_api_processes_and_two_workers_without_embedded_workers() -> None:
    services = _services()
    assert {"postgres", "seaweedfs", "api1", "api2", "worker1", "worker2"} <= set(services)
    workers = [s for s in services.values() if s.get("command") == ["minimaker", "worker"]]
    assert len(workers) == 2
    anchor = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["x-minimaker"]
    assert anchor["environment"]["MINIMAKER_EMBEDDED_WORKER"] == "false"


def test_the_commands_the_image_runs_exist() -> None:
    runner = CliRunner()
    for command in (["serve", "--help"], ["worker", "--help"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    assert "--no-worker" in runner.invoke(app, ["serve", "--help"]).output
