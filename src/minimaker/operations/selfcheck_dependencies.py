"""The self-check's vulnerability assessment of installed dependencies (policy 5.1).

pip-audit compares the installed distributions with an advisory database (PyPI's JSON API
or OSV). It is used when it is installed in this environment; it is not a dependency of
MiniMaker, because where the service runs no advisory source may be reachable (this very
project's machines reach a package index but no advisory API), and an audit that can reach
nothing proves nothing. So the check says plainly when it was skipped, and why.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

from minimaker.operations.selfcheck_checks import Check, Status

NAME = "dependencies"
#: Shown vulnerabilities at most; the rest are counted.
_SHOWN = 10


def command() -> list[str] | None:
    """How to run pip-audit over this environment; None if it is not installed here."""
    if importlib.util.find_spec("pip_audit") is None:
        return None
    # `python -m pip_audit` audits the environment of that python: this service's own.
    return [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]


def audit_dependencies(timeout_s: float) -> Check:
    """Run pip-audit with a timeout, and read its verdict; skipped when it cannot run."""
    argv = command()
    if argv is None:
        return Check(
            NAME,
            Status.SKIPPED,
            "pip-audit is not installed in this environment, so no advisory database was "
            "consulted (pip install pip-audit where an advisory source is reachable)",
        )
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            argv, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return Check(
            NAME, Status.SKIPPED, f"pip-audit did not finish within {timeout_s:g} s (no source?)"
        )
    return verdict(done.returncode, done.stdout, done.stderr)


def verdict(returncode: int, stdout: str, stderr: str) -> Check:
    """pip-audit's JSON report as a check: vulnerabilities fail; nothing audited is skipped."""
    try:
        report = json.loads(stdout)
        deps: list[dict[str, Any]] = list(report["dependencies"])
    except (ValueError, KeyError, TypeError):
        last = (stderr.strip().splitlines() or ["no output"])[-1][:200]
        return Check(
            NAME,
            Status.SKIPPED,
            f"pip-audit could not audit (exit {returncode}): {last}",
        )
    audited = [d for d in deps if "vulns" in d and "skip_reason" not in d]
    if deps and not audited:
        return Check(
            NAME,
            Status.SKIPPED,
            f"pip-audit reached no advisory for any of {len(deps)} packages (source unreachable?)",
        )
    found = [
        f"{d.get('name')} {d.get('version')} {v.get('id')}"
        for d in audited
        for v in d.get("vulns") or ()
    ]
    if found:
        more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
        return Check(
            NAME,
            Status.FAIL,
            f"{len(found)} known vulnerabilities: " + ", ".join(found[:_SHOWN]) + more,
        )
    skipped = len(deps) - len(audited)
    note = f" ({skipped} could not be audited)" if skipped else ""
    return Check(NAME, Status.PASS, f"{len(audited)} packages audited, none vulnerable{note}")
