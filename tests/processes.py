"""Real MiniMaker processes for tests: the CLI, a worker, a crash driver, each a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from minimaker.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def process_env(settings: Settings, **more: str) -> dict[str, str]:
    """The environment of a process on the test's data directory, databases and master key.

    No MINIMAKER_ variable of the calling shell leaks in: the process sees this test's setup
    and nothing else. `more` adds or overrides variables.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMAKER_")}
    env.update(
        MINIMAKER_DATA_DIR=str(settings.data_dir),
        MINIMAKER_DATABASE_URL=settings.resolved_database_url(),
        MINIMAKER_KEYSTORE_URL=settings.resolved_keystore_url(),
        MINIMAKER_MASTER_KEY=settings.master_key or "",
        COLUMNS="200",  # one line per message, whatever the terminal
    )
    env.update(more)
    return env


def run_module(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m module args...` from the project root, its output captured, 120 s at most."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def minimaker(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The `minimaker` command line, in a process of its own."""
    return run_module("minimaker.entrypoints.cli", *args, env=env)
