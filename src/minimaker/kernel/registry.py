"""The registries of what runs: request fulfillers, job handlers and periodic duties.

Each is a plain mapping built once, by name, in `bootstrap.registries()`: nothing registers
itself on import, so no duty can silently stop running because an import went away, and a
test reads the whole table in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minimaker.kernel.container import Container

log = logging.getLogger("minimaker.worker")

#: Fulfils one data-subject request; returns a result reference (an archive id) or None.
Fulfiller = Callable[["Container", Any], "str | None"]
#: Runs one claimed job of its kind.
JobHandler = Callable[["Container", Any], None]
#: A periodic duty of every worker; returns how many things it handled. Duties must be safe
#: to run from many workers at once (they claim rows the way jobs are claimed).
Duty = Callable[["Container"], int]


def _frozen(table: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(table or {}))


@dataclass(frozen=True)
class Registries:
    """Request type -> fulfiller, job kind -> handler, duty name -> duty, and the duties that
    keep an interval of their own -> the setting that holds it (the others are due every
    `periodic_s`): each runs once per its interval across every worker of the fleet."""

    fulfillers: Mapping[str, Fulfiller] = field(default_factory=dict)
    handlers: Mapping[str, JobHandler] = field(default_factory=dict)
    duties: Mapping[str, Duty] = field(default_factory=dict)
    intervals: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.intervals) - set(self.duties)
        if unknown:
            raise ValueError(f"intervals of no duty: {', '.join(sorted(unknown))}")
        for name in ("fulfillers", "handlers", "duties", "intervals"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def fulfiller(self, request_type: str) -> Fulfiller:
        """The fulfiller of `request_type`; LookupError names a type nobody fulfils."""
        try:
            return self.fulfillers[request_type]
        except KeyError:
            raise LookupError(f"no fulfiller registered for {request_type}") from None

    def run_duties(self, c: Container) -> dict[str, int]:
        """Run every duty once; one failing duty does not stop the others (it counts -1)."""
        return {name: self.run_duty(c, name) for name in sorted(self.duties)}

    def run_duty(self, c: Container, name: str) -> int:
        """Run one duty; how many things it handled, or -1 if it failed (logged by type)."""
        try:
            return self.duties[name](c)
        except Exception as exc:
            log.error("periodic duty %s failed: %s", name, type(exc).__name__)
            return -1
