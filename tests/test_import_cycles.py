"""Every feature's service and api module imports on its own, in a fresh interpreter's order:
a cycle that only works when something else happened to be imported first (sharing.service ->
rights.recipients -> mail.outbox -> sharing.relay -> sharing.service once did) fails here."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT

_SCRIPT = """
import importlib, pkgutil, sys, traceback
import minimaker
names = sorted(
    m.name for m in pkgutil.walk_packages(minimaker.__path__, "minimaker.")
    if m.name.rsplit(".", 1)[-1] in ("service", "api", "pages", "bootstrap", "cli", "app")
)
failed = []
for name in names:
    for loaded in [k for k in sys.modules if k.startswith("minimaker.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError:
        failed.append(name + ": " + traceback.format_exc().splitlines()[-1])
print(len(names))
print("\\n".join(failed))
"""


def test_each_service_and_api_module_imports_first() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    count, *failed = run.stdout.splitlines()
    assert int(count) > 20  # the walk found the features
    assert [f for f in failed if f] == []
