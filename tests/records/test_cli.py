"""`minimaker ropa export` as an operator runs it: a real process on the test's databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from minimaker.kernel.container import Container
from minimaker.settings import Settings
from tests.policy.files import policy_file
from tests.processes import minimaker, process_env
from tests.records.parse import assert_json_entry_complete, csv_rows, html_sections, json_entries


def test_json_goes_to_standard_output_by_default(settings: Settings, container: Container) -> None:
    done = minimaker("ropa", "export", env=process_env(settings))
    assert done.returncode == 0, done.stderr
    entries = json_entries(done.stdout)
    assert list(entries) == list(container.policy.purposes)
    for name, entry in entries.items():
        assert_json_entry_complete(entry, name, container.policy)


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_each_format_is_written_to_the_output_file_and_reads_back(
    settings: Settings, container: Container, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"ropa.{fmt}"
    args = ("ropa", "export", "--format", fmt, "--output", str(out))
    done = minimaker(*args, env=process_env(settings))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "wrote the record of processing" in done.stderr
    text = out.read_text("utf-8")
    read = {"json": json_entries, "csv": csv_rows, "html": lambda t: html_sections(t)[0]}[fmt]
    assert list(read(text)) == list(container.policy.purposes)


def test_the_export_follows_the_operators_policy_file(
    settings: Settings, container: Container, tmp_path: Path
) -> None:
    path = policy_file(
        tmp_path / "operator",
        replace=(("  dpo: privacy@minimaker.ai\n", "  dpo: dpo@example.org\n"),),
    )
    env = process_env(settings, MINIMAKER_POLICY_FILE=str(path))
    done = minimaker("ropa", "export", "--format", "csv", env=env)
    assert done.returncode == 0, done.stderr
    assert {r["dpo"] for r in csv_rows(done.stdout).values()} == {"dpo@example.org"}


@pytest.mark.parametrize("fmt", ["xml", ""])
def test_an_unknown_format_is_one_clear_error_and_writes_nothing(
    settings: Settings, container: Container, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "ropa.out"
    done = minimaker(
        "ropa", "export", "--format", fmt, "--output", str(out), env=process_env(settings)
    )
    assert done.returncode == 2
    assert "format: must be one of json, csv, html" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_an_output_file_that_cannot_be_written_is_one_clear_error(
    settings: Settings, container: Container, tmp_path: Path
) -> None:
    out = tmp_path / "no-such-folder" / "ropa.json"
    done = minimaker("ropa", "export", "--output", str(out), env=process_env(settings))
    assert done.returncode == 2
    assert f"cannot write {out}" in done.stderr and "Traceback" not in done.stderr
