"""Periodic duties of every worker (deliver mail, expire archives, alarm overdue requests).

Modules register a duty with @duty; each returns how many things it handled. Duties must be
safe to run from many workers at once (they claim rows the way jobs are claimed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minimaker.kernel.container import Container

log = logging.getLogger("minimaker.worker")

Duty = Callable[["Container"], int]
DUTIES: dict[str, Duty] = {}


def duty(name: str) -> Callable[[Duty], Duty]:
    """Decorator: run this function on every worker's periodic tick."""

    def wrap(fn: Duty) -> Duty:
        DUTIES[name] = fn
        return fn

    return wrap


def run_duties(c: Container) -> dict[str, int]:
    """Run every registered duty once; one failing duty does not stop the others."""
    done: dict[str, int] = {}
    for name, fn in sorted(DUTIES.items()):
        try:
            done[name] = fn(c)
        except Exception as exc:
            log.error("periodic duty %s failed: %s", name, type(exc).__name__)
            done[name] = -1
    return done
