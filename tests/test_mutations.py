"""A small mutation check: breakages the suite once let through (or must never let through),
each applied to a copy of src/, must make the tests that guard it fail.

Each case copies src/ to a temporary directory, applies its breakage as a text edit (the edit
must match exactly once, so a refactor cannot turn it into a no-op), and runs the tests that
guard it in a subprocess whose PYTHONPATH puts the copy ahead of the installed package, on
SQLite only. The run must fail on a test (exit status 1), not on an import or a usage error.
A surviving mutation fails here with its name: `mutation (b) survived`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import ROOT


@dataclass(frozen=True)
class Mutation:
    """One breakage: the file, the text it replaces, and the tests that must catch it."""

    name: str
    path: str  # under src/minimaker/
    before: str
    after: str
    tests: tuple[str, ...]  # pytest arguments, from the project root
    keyword: str | None = None  # -k: tests added later under these names are included


MUTATIONS = (
    Mutation(
        "(a) security headers middleware removed",
        "entrypoints/app.py",
        "    app.add_middleware(SecurityHeaders)\n",
        "",
        ("tests/test_security_headers.py",),
    ),
    Mutation(
        "(b) notify_recipients made a no-op",
        "rights/recipients.py",
        "def notify_recipients(uow: UnitOfWork, *, subject_id: str, what: str) -> list[str]:\n",
        "def notify_recipients(uow: UnitOfWork, *, subject_id: str, what: str) -> list[str]:\n"
        "    return []\n",
        (
            "tests/rights/test_art19_corrections.py",
            "tests/rights/test_art19_erasure_and_restriction.py",
        ),
    ),
    Mutation(
        "(c) an audit tag relabelled to a purpose the policy does not declare for it",
        "uploads/events.py",
        'CONTENT_READ = AuditTag("upload", "content", "read", Purpose.SERVICE)',
        'CONTENT_READ = AuditTag("upload", "content", "read", Purpose.ANALYTICS)',
        ("tests/test_purposes_and_categories.py", "tests/kernel/test_actors_and_tags.py"),
    ),
    Mutation(
        "(d) a processing call relabelled to a purpose the policy does not declare",
        "uploads/service.py",
        "ensure_allowed(uow, user_id, Purpose.SERVICE, _PHOTO)\n        limits.lock_subject",
        "ensure_allowed(uow, user_id, Purpose.ADVERTISING, _PHOTO)\n        limits.lock_subject",
        ("tests/test_purpose_calls.py",),
        keyword="literal_one_the_policy_declares",
    ),
    Mutation(
        "(e) a processing call naming a category its purpose is not declared for",
        "accounts/service.py",
        '_PROFILE = ("account",)',
        '_PROFILE = ("account", "usage_event")',
        ("tests/test_purpose_calls.py",),
        keyword="literal_one_the_policy_declares",
    ),
    Mutation(
        "(f) generation relabelled to marketing (declared, but on consent)",
        "generation/service.py",
        "purpose = ensure_allowed(uow, user_id, Purpose.GENERATION, _READS)",
        "purpose = ensure_allowed(uow, user_id, Purpose.MARKETING, _READS)",
        ("tests/rights/test_api.py",),
        keyword="restriction_refuses_generation or lifting",
    ),
    # A deleted gate once left the suite green: each is caught by its use case's behaviour
    # (g, h) and, apart from that, by the list of use cases that must ask (i).
    Mutation(
        "(g) the purpose gate deleted from generation's request",
        "generation/service.py",
        "purpose = ensure_allowed(uow, user_id, Purpose.GENERATION, _READS)",
        "purpose = Purpose.GENERATION",
        ("tests/rights/test_purpose_use_cases.py",),
        keyword="request_model",
    ),
    Mutation(
        "(h) the purpose gate deleted from reading a photo",
        "uploads/service.py",
        "        ensure_allowed(uow, user_id, Purpose.SERVICE, _PHOTO)\n"
        "        dek = uow.keys.subject_key(user_id)\n",
        "        dek = uow.keys.subject_key(user_id)\n",
        ("tests/rights/test_purpose_use_cases.py",),
        keyword="open_content",
    ),
    Mutation(
        "(i) the purpose gate deleted from an archive's download",
        "rights/access.py",
        'purpose = ensure_allowed(uow, subject_id, Purpose.SERVICE, ("rights_archive",))',
        "purpose = Purpose.SERVICE",
        ("tests/test_purpose_calls.py",),
        keyword="still_asks_the_gate",
    ),
    Mutation(
        "(j) small-cell suppression removed from the usage aggregates",
        "analytics/rules.py",
        "keep = [c for c in cells if c.people >= k]",
        "keep = list(cells)",
        ("tests/analytics/test_aggregates.py",),
    ),
    Mutation(
        "(k) the aggregates' sensitivity forgets a person can be in every cell",
        "analytics/rules.py",
        "return types, cap * types",
        "return types, cap",
        ("tests/analytics/test_aggregates.py",),
    ),
)


def _mutated_copy(tmp: Path, m: Mutation) -> Path:
    src = tmp / "src"
    # The compiled modules come along (copytree keeps their sources' times, so they stay
    # valid and the run skips compiling the package); the mutated module's are removed.
    shutil.copytree(ROOT / "src", src)
    target = src / "minimaker" / m.path
    text = target.read_text("utf-8")
    assert text.count(m.before) == 1, f"mutation {m.name}: its text is no longer in {m.path}"
    target.write_text(text.replace(m.before, m.after), "utf-8")
    for compiled in (target.parent / "__pycache__").glob(f"{target.stem}.*.pyc"):
        compiled.unlink()
    return src


def _env(src: Path) -> dict[str, str]:
    # SQLite only (no test database URL), no MINIMAKER_ setting of the calling shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMAKER_")}
    env["PYTHONPATH"] = str(src)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("m", MUTATIONS, ids=[m.name[:3] for m in MUTATIONS])
def test_the_suite_catches_the_mutation(tmp_path: Path, m: Mutation) -> None:
    env = _env(_mutated_copy(tmp_path, m))
    where = _run(["-c", "import minimaker; print(minimaker.__file__)"], env)
    assert where.stdout.strip().startswith(str(tmp_path)), where  # the copy, not src/
    args = ["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *m.tests]
    if m.keyword:
        args += ["-k", m.keyword]
    run = _run(args, env)
    tail = "\n".join(run.stdout.splitlines()[-15:])
    assert run.returncode != 0, f"mutation {m.name} survived:\n{tail}"
    assert run.returncode == 1, f"mutation {m.name}: the run broke, not a test:\n{tail}"
