"""Who acted, as a value: a subject, a staff member, or a named part of the system.

Audit entries name actors by pseudonymous id only (`subject:<id>`, `staff:<id>`) or by the
component that acted (`system:rights`): never a name, an email or a username.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Component(StrEnum):
    """The parts of MiniMaker that act on their own (jobs, duties, the operator's commands)."""

    AUTH = "auth"  # sign-in attempts not yet tied to a person
    CLI = "cli"  # the operator at the command line, who holds the database itself
    DETECTION = "detection"  # the breach-detection rules over the audit stream
    EMAIL_INTAKE = "email-intake"  # requests received through the public email route
    INTAKE = "intake"  # closing requests nobody confirmed
    MAIL = "mail"  # outbox delivery
    RETENTION = "retention"  # expiry of what is kept for a limited time
    RIGHTS = "rights"  # fulfilment of data-subject requests
    WORKER = "worker"  # background jobs (generation)


@dataclass(frozen=True)
class Actor:
    """One actor of the audit trail; `str(actor)` is how the audit stores it."""

    kind: str  # "subject", "staff" or "system"
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def subject(cls, subject_id: str) -> Actor:
        """The data subject themselves, by pseudonymous id."""
        return cls("subject", subject_id)

    @classmethod
    def staff(cls, staff_id: str) -> Actor:
        """A staff member, by staff id."""
        return cls("staff", staff_id)

    @classmethod
    def system(cls, component: Component) -> Actor:
        """A part of MiniMaker acting on its own."""
        return cls("system", component.value)


SYSTEM_AUTH = Actor.system(Component.AUTH)
SYSTEM_CLI = Actor.system(Component.CLI)
SYSTEM_DETECTION = Actor.system(Component.DETECTION)
SYSTEM_EMAIL_INTAKE = Actor.system(Component.EMAIL_INTAKE)
SYSTEM_INTAKE = Actor.system(Component.INTAKE)
SYSTEM_MAIL = Actor.system(Component.MAIL)
SYSTEM_RETENTION = Actor.system(Component.RETENTION)
SYSTEM_RIGHTS = Actor.system(Component.RIGHTS)
SYSTEM_WORKER = Actor.system(Component.WORKER)


@dataclass(frozen=True)
class StaffIdentity:
    """Who a live staff token stands for, with the role and clearance they hold right now:
    the value every feature's /admin route receives (staff/service.py authenticates it)."""

    id: str
    role: str
    #: Until when their data-protection training is current (None: none recorded).
    trained_until: datetime | None = None
    #: The policy version they acknowledged (None: none).
    acknowledged: str | None = None

    @property
    def actor(self) -> Actor:
        """The staff member as the audit names them."""
        return Actor.staff(self.id)
