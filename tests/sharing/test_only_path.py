"""The disclosure log has one writer: rows are made in rights/recipients.py, called only by
the sharing service (policy 7.2: data leaves only through it)."""

from __future__ import annotations

import ast
from pathlib import Path

import minimaker

ROOT = Path(minimaker.__file__).parent


def _callers(name: str) -> set[str]:
    found = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                if called == name:
                    found.add(str(path.relative_to(ROOT)))
    return found


def test_only_the_sharing_service_writes_the_disclosure_log() -> None:
    assert _callers("Disclosure") == {"rights/recipients.py"}
    assert _callers("record_disclosure") == {"sharing/service.py"}
