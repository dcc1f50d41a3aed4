"""Policy versions (policy 12, 3.1): publish the version in force, read the history, record
acknowledgements.

A version is published once, whole: its YAML and readable text are stored, so what users were
shown stays readable after the file changes, and a version string cannot be reused for other
content. A significant version is then told to every user (`notify.py`) and each of them is
asked to acknowledge it at their next sign-in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update

from minimaker.adapters.db import insert_unless_present
from minimaker.kernel.actors import SYSTEM_CLI, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError, Conflict, NotFound
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.publication import events
from minimaker.publication.tables import VERSION_LENGTH, PolicyAcknowledgement, PolicyVersion

#: What a version string may be: it becomes a key, a part of a URL and a word of the audit.
VERSION_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{VERSION_LENGTH - 1}}}$"
_VERSION = re.compile(VERSION_PATTERN)


class VersionRefused(ConfigurationError):
    """The policy file's version cannot be published; the service does not start on it."""

    code = "policy_version_refused"


class VersionNotCurrent(Conflict):
    """Only the version in force can be acknowledged: an older one is not what applies now."""

    code = "policy_version_not_current"

    def __init__(self, current: str) -> None:
        self.current = current
        super().__init__(f"only the current policy version ({current}) can be acknowledged")


@dataclass(frozen=True)
class VersionRead:
    """A published version as the history shows it."""

    version: str
    effective: date
    significant: bool
    changes: str
    published_at: datetime


@dataclass(frozen=True)
class VersionText(VersionRead):
    """A published version with what was published: the readable text and the YAML."""

    text: str
    source: str


@dataclass(frozen=True)
class Published:
    """What `publish_if_new` did: published the version now, or found it published."""

    version: str
    significant: bool
    published_at: datetime
    new: bool


@dataclass(frozen=True)
class AcknowledgementState:
    """For one user: whether an acknowledgement is owed, and when they acknowledged this one."""

    required: bool
    acknowledged_at: datetime | None


def _read(row: PolicyVersion) -> VersionRead:
    return VersionRead(row.version, row.effective, row.significant, row.changes, row.published_at)


def _text(row: PolicyVersion) -> VersionText:
    return VersionText(**vars(_read(row)), text=row.text, source=row.source)


def valid_version(version: str) -> bool:
    """Whether `version` is a version string at all (bad ones are never looked up)."""
    return _VERSION.fullmatch(version) is not None


def publish_if_new(c: Container, *, actor: Actor = SYSTEM_CLI) -> Published:
    """Publish the version in force unless it is published; refuse a version string that was
    published with other content (an operator must bump the version)."""
    policy, doc = c.policy, c.policy_doc
    if not valid_version(policy.version):
        raise VersionRefused(
            f"policy version must be letters, digits, '.', '_' or '-', at most {VERSION_LENGTH}"
        )
    with c.uow() as uow:
        row = uow.session.get(PolicyVersion, policy.version)
        if row is not None:
            _same_content(uow, row, text=doc.text, source=doc.source, actor=actor)
            return Published(row.version, row.significant, row.published_at, new=False)
        now = c.clock.now()
        if policy.significant:
            # A newer significant version supersedes an unfinished notification: one email.
            uow.session.execute(
                update(PolicyVersion)
                .where(PolicyVersion.notified_at.is_(None))
                .values(notified_at=now, notified_through=None)
            )
        uow.session.add(
            PolicyVersion(
                version=policy.version,
                effective=policy.effective,
                significant=policy.significant,
                changes=policy.changes,
                text=doc.text,
                source=doc.source,
                published_at=now,
                # Nothing to tell for a minor version: its walk is over before it starts.
                notified_at=None if policy.significant else now,
            )
        )
        kind = "significant" if policy.significant else "minor"
        uow.audit(events.VERSION_PUBLISHED, actor=actor, object=f"version:{policy.version}:{kind}")
        uow.commit()
    return Published(policy.version, policy.significant, now, new=True)


def _same_content(
    uow: UnitOfWork, row: PolicyVersion, *, text: str, source: str, actor: Actor
) -> None:
    if row.text == text and row.source == source:
        return
    # What users were shown under this version would silently change: refused, and accounted.
    uow.audit_refusal(events.VERSION_REFUSED, actor=actor, object=f"version:{row.version}")
    raise VersionRefused(
        f"policy version {row.version} was published on {row.published_at:%Y-%m-%d} with "
        "other content; give the changed policy a new version"
    )


def list_versions(c: Container) -> list[VersionRead]:
    """Every published version, newest first."""
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(PolicyVersion).order_by(PolicyVersion.published_at.desc())
        )
        return [_read(r) for r in rows]


def get_version(c: Container, *, version: str) -> VersionText:
    """One published version with its text and YAML; NotFound for any other string."""
    if not valid_version(version):
        raise NotFound("policy version")
    with c.uow(write=False) as uow:
        row = uow.session.get(PolicyVersion, version)
        if row is None:
            raise NotFound("policy version")
        return _text(row)


def current(c: Container) -> VersionRead | None:
    """The version in force as published (None until start-up or the CLI publishes it)."""
    with c.uow(write=False) as uow:
        row = uow.session.get(PolicyVersion, c.policy.version)
        return _read(row) if row is not None else None


def _owed(uow: UnitOfWork, user_id: str) -> bool:
    found = uow.session.scalar(
        select(PolicyAcknowledgement.version)
        .where(
            PolicyAcknowledgement.subject_id == user_id,
            PolicyAcknowledgement.acknowledged_at.is_(None),
        )
        .limit(1)
    )
    return found is not None


def acknowledgement_owed(c: Container, *, user_id: str) -> bool:
    """Whether the user was asked to acknowledge a significant version and has not yet."""
    with c.uow(write=False) as uow:
        return _owed(uow, user_id)


def owed(c: Container, *, user_id: str) -> list[VersionRead]:
    """The versions the user was asked to acknowledge and has not, oldest first."""
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(PolicyVersion)
            .join(PolicyAcknowledgement, PolicyAcknowledgement.version == PolicyVersion.version)
            .where(
                PolicyAcknowledgement.subject_id == user_id,
                PolicyAcknowledgement.acknowledged_at.is_(None),
            )
            .order_by(PolicyVersion.published_at)
        )
        return [_read(r) for r in rows]


def acknowledgement_state(c: Container, *, user_id: str) -> AcknowledgementState:
    """Whether an acknowledgement is owed, and when the user acknowledged the version in force."""
    with c.uow(write=False) as uow:
        row = uow.session.get(PolicyAcknowledgement, (user_id, c.policy.version))
        return AcknowledgementState(
            required=_owed(uow, user_id),
            acknowledged_at=row.acknowledged_at if row is not None else None,
        )


def acknowledge(c: Container, *, user_id: str, version: str) -> AcknowledgementState:
    """Record that the user acknowledged the version in force (again: the first time stands).

    Acknowledging the current version settles every version asked of them before it: it
    includes their changes. Of two acknowledgements at once (a double submit, two tabs),
    one records it with its audit entry and the other answers the same state.
    """
    in_force = c.policy.version
    if version != in_force:
        raise VersionNotCurrent(in_force)
    with c.uow() as uow:
        if uow.session.get(PolicyVersion, in_force) is None:
            raise NotFound("policy version")  # not published yet: nothing to acknowledge
        # Two requests at once both find no row: a plain INSERT in the second would collide.
        insert_unless_present(
            uow.session, PolicyAcknowledgement, subject_id=user_id, version=in_force
        )
        if _settle(uow, user_id, in_force, now=c.clock.now()):
            uow.audit(
                events.ACKNOWLEDGED,
                actor=Actor.subject(user_id),
                subject=user_id,
                object=f"version:{in_force}",
            )
        at = uow.session.scalar(
            select(PolicyAcknowledgement.acknowledged_at).where(
                PolicyAcknowledgement.subject_id == user_id,
                PolicyAcknowledgement.version == in_force,
            )
        )
        uow.commit()
        return AcknowledgementState(required=False, acknowledged_at=at)


def _settle(uow: UnitOfWork, user_id: str, version: str, *, now: datetime) -> bool:
    """Set `version` and every earlier one still owed as acknowledged now; whether this was
    the first acknowledgement of `version`."""
    mine = PolicyAcknowledgement.subject_id == user_id
    # Only a missing acknowledgement is set: the UPDATE that touches the row is the first. A
    # concurrent second waits on the row lock (PostgreSQL), then finds it set and touches none.
    first = uow.session.scalar(
        update(PolicyAcknowledgement)
        .where(mine, PolicyAcknowledgement.version == version)
        .where(PolicyAcknowledgement.acknowledged_at.is_(None))
        .values(acknowledged_at=now)
        .returning(PolicyAcknowledgement.version)
    )
    uow.session.execute(
        update(PolicyAcknowledgement)
        .where(mine, PolicyAcknowledgement.acknowledged_at.is_(None))
        .values(acknowledged_at=now)
    )
    return first is not None
