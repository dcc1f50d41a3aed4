"""Crash injection, a test hook: `crash_point(name)` kills this process where a crash hurts most.

It does nothing unless the environment variable MINIMAKER_CRASH_AT names the point; it is read
at every call, so a test sets it for one subprocess only (tests/crash/). `name` dies the first
time the point is reached, `name@k` the k-th time (after k of n blob deletions, say). The
process dies by SIGKILL, not by an exception: no `finally`, rollback or atexit handler runs,
exactly as when the power goes or the kernel's OOM killer strikes. Never set it in production.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

#: The environment variable naming the one point at which this process is to die.
CRASH_AT = "MINIMAKER_CRASH_AT"

_reached: Counter[str] = Counter()
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Die here by SIGKILL if MINIMAKER_CRASH_AT is `name` (or `name@k` and this is the k-th)."""
    wanted = os.environ.get(CRASH_AT)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    with _lock:
        _reached[name] += 1
        times = _reached[name]
    if times == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
