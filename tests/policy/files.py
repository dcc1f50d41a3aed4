"""A policy file of the test's own: the shipped one, edited, beside a copy of its text."""

from __future__ import annotations

import shutil
from pathlib import Path

from minimaker.policy import SHIPPED


def shipped_source() -> str:
    """The shipped policy.yaml, as written."""
    return SHIPPED.read_text("utf-8")


def policy_file(directory: Path, *, replace: tuple[tuple[str, str], ...] = ()) -> Path:
    """The shipped policy with each (old, new) replaced once, written into `directory`."""
    source = shipped_source()
    for old, new in replace:
        assert old in source, f"the shipped policy has no {old!r} to replace"
        source = source.replace(old, new, 1)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "policy.yaml"
    path.write_text(source, "utf-8")
    text = SHIPPED.with_name("data-protection-policy.txt")
    shutil.copyfile(text, directory / "data-protection-policy.txt")
    return path


def line_of(source: str, needle: str, *, after: str = "") -> int:
    """The 1-based line of the first `needle` (after the first `after`) in `source`."""
    start = source.index(after) if after else 0
    return source[: source.index(needle, start)].count("\n") + 1
