"""A world with one item just inside and one just outside each timed rule's cutoff."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from minimaker.accounts import service as accounts
from minimaker.accounts.tables import AuthSession, LoginFailure, PasswordReset
from minimaker.adapters.job_queue import Job
from minimaker.generation import usage
from minimaker.generation.tables import Model3D, ModelFile, ModelPreview, UsageEvent
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.mail import folder
from minimaker.mail.tables import OutboxMessage
from minimaker.retention.rules import Duration
from minimaker.rights import intake
from minimaker.rights.rules import RequestType
from minimaker.rights.tables import Archive, ArchiveLink, VerificationToken
from minimaker.staff.tables import StaffMember, StaffSession
from minimaker.uploads.tables import Upload

PASSWORD = "correct horse battery staple"
#: How far from the cutoff the two items of a rule stand.
MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class Pair:
    """A rule's two items: the one just past its cutoff goes, the one just before stays."""

    table: Any
    key: str
    outside: Any
    inside: Any
    blobs: tuple[str, str] | None = None  # (outside, inside)
    previews: tuple[str, str] | None = None  # a model's preview blobs (outside, inside)


def signup(c: Container, username: str) -> str:
    """A real account, signed in once (so it counts as active now); its id."""
    profile = accounts.signup(
        c,
        name=f"{username} Example",
        email=f"{username}@example.org",
        username=username,
        password=PASSWORD,
    )
    accounts.login(c, login=username, password=PASSWORD, client_ip="192.0.2.1")
    return profile.id


def cutoff(c: Container, rule: str) -> datetime:
    after = next(cat.rules[rule].after for cat in c.policy.categories.values() if rule in cat.rules)
    return Duration.parse(str(after)).before(c.clock.now())


def _id() -> str:
    return uuid.uuid4().hex


class Builder:
    """Adds each rule's pair of rows, in one unit of work."""

    def __init__(self, c: Container, uow: Any, subject_id: str) -> None:
        self.c, self.uow, self.subject = c, uow, subject_id
        self.dek = uow.keys.subject_key(subject_id)
        self.request_id = intake.create_request(
            uow,
            subject_id=subject_id,
            type=RequestType.ACCESS,
            details=None,
            channel="email",
            actor=SYSTEM_CLI,
            verified=False,
        ).id
        self.staff_id = _id()
        uow.session.add(
            StaffMember(
                id=self.staff_id,
                username=f"staff-{self.staff_id[:6]}",
                password_hash="x",
                role="officer",
                created_at=c.clock.now(),
            )
        )

    def blob(self) -> str:
        stored = self.c.blobs.put_bytes(self.dek, b"some photo or model bytes")
        self.uow.wrote_blob(stored.blob_id)
        return stored.blob_id

    def pair(self, rule: str, make: Any, table: Any, key: str, blobs: bool = False) -> Pair:
        at = cutoff(self.c, rule)
        made = []
        for anchor in (at - MARGIN, at + MARGIN):
            blob = self.blob() if blobs else None
            row = make(anchor, blob)
            self.uow.session.add(row)
            self.uow.session.flush()
            made.append((getattr(row, key), blob))
        pair_blobs = (made[0][1], made[1][1]) if blobs else None
        return Pair(table, key, made[0][0], made[1][0], pair_blobs)


def build_world(c: Container, subject_id: str) -> dict[str, Pair]:
    """Rule -> its pair, for every timed rule but the inactivity ones (tested apart)."""
    with c.uow() as uow:
        b = Builder(c, uow, subject_id)
        s, now = subject_id, c.clock.now()
        pairs = {
            "sessions": b.pair(
                "sessions",
                lambda a, _: AuthSession(
                    id=_id(), user_id=s, created_at=a - timedelta(hours=1), expires_at=a
                ),
                AuthSession,
                "id",
            ),
            "login_failures": b.pair(
                "login_failures", lambda a, _: LoginFailure(key=_id() * 2, at=a), LoginFailure, "id"
            ),
            "photos": b.pair(
                "photos",
                lambda a, blob: Upload(
                    id=_id(),
                    owner_id=s,
                    blob_id=blob,
                    media_type="image/png",
                    size_bytes=1,
                    width=1,
                    height=1,
                    created_at=a,
                ),
                Upload,
                "id",
                blobs=True,
            ),
            "usage_events": b.pair(
                "usage_events",
                lambda a, _: UsageEvent(
                    pseudonym=usage.pseudonym(c.keys.day_key(a.date()), s),
                    event="page.viewed",
                    at=a,
                ),
                UsageEvent,
                "id",
            ),
            "archives": b.pair(
                "archives",
                lambda a, blob: Archive(
                    id=_id(),
                    subject_id=s,
                    request_id=b.request_id,
                    kind="access",
                    blob_id=blob,
                    size_bytes=1,
                    created_at=a - timedelta(days=7),
                    expires_at=a,
                ),
                Archive,
                "id",
                blobs=True,
            ),
            "verification_links": b.pair(
                "verification_links",
                lambda a, _: VerificationToken(
                    token_hash=_id() * 2, request_id=b.request_id, expires_at=a
                ),
                VerificationToken,
                "token_hash",
            ),
            "download_links": b.pair(
                "download_links",
                lambda a, _: ArchiveLink(
                    token_hash=_id() * 2, request_id=b.request_id, archive_id=_id(), expires_at=a
                ),
                ArchiveLink,
                "token_hash",
            ),
            "delivered_mail": b.pair(
                "delivered_mail", lambda a, _: _sent(s, a), OutboxMessage, "id"
            ),
            "mail_files": b.pair("mail_files", lambda a, _: _sent(s, a), OutboxMessage, "id"),
            "staff_sessions": b.pair(
                "staff_sessions",
                lambda a, _: StaffSession(
                    id=_id(), staff_id=b.staff_id, created_at=a - timedelta(hours=1), expires_at=a
                ),
                StaffSession,
                "id",
            ),
            "password_resets": b.pair(
                "password_resets",
                lambda a, _: PasswordReset(
                    id=_id(),
                    user_id=s,
                    token_hash=_id() * 2,
                    created_at=a - timedelta(hours=1),
                    expires_at=a,
                ),
                PasswordReset,
                "id",
            ),
            "finished_jobs": b.pair(
                "finished_jobs",
                lambda a, _: Job(
                    id=_id(),
                    kind="generate_model",
                    payload={},
                    subject_id=s,
                    status="done",
                    attempts=1,
                    max_attempts=3,
                    run_after=a,
                    created_at=a,
                    finished_at=a,
                ),
                Job,
                "id",
            ),
        }
        pairs["models"] = _models(b, now)
        uow.commit()
    mailer = folder.folder_mailer(c)
    for key in (pairs["mail_files"].outside, pairs["mail_files"].inside):
        mailer.path_of(key).parent.mkdir(parents=True, exist_ok=True)
        mailer.path_of(key).write_bytes(b"sealed mail")
    return pairs


def _sent(subject_id: str, at: datetime) -> OutboxMessage:
    return OutboxMessage(
        id=_id(),
        subject_id=subject_id,
        kind="notice",
        status="sent",
        attempts=1,
        created_at=at,
        sent_at=at,
    )


def _models(b: Builder, now: datetime) -> Pair:
    previews: list[str] = []

    def make(anchor: datetime, blob: str | None) -> Model3D:
        model_id = _id()
        b.uow.session.add(
            Model3D(
                id=model_id,
                owner_id=b.subject,
                status="done",
                params={},
                created_at=anchor - timedelta(days=400),
                last_used_at=anchor,
                finished_at=anchor,
            )
        )
        b.uow.session.flush()
        b.uow.session.add(
            ModelFile(
                model_id=model_id, format="glb", owner_id=b.subject, blob_id=blob, size_bytes=1
            )
        )
        preview = b.blob()  # its preview goes (or stays) with it
        previews.append(preview)
        b.uow.session.add(
            ModelPreview(
                model_id=model_id, view="shaded", owner_id=b.subject, blob_id=preview, size_bytes=1
            )
        )
        return b.uow.session.get_one(Model3D, model_id)

    at = cutoff(b.c, "models")
    made = []
    for anchor in (at - MARGIN, at + MARGIN):
        blob = b.blob()
        made.append((make(anchor, blob).id, blob))
    blobs = (made[0][1], made[1][1])
    return Pair(Model3D, "id", made[0][0], made[1][0], blobs, (previews[0], previews[1]))


def keys_left(c: Container, pair: Pair) -> set[Any]:
    from sqlalchemy import select

    column = getattr(pair.table, pair.key)
    with c.sessions() as s:
        return set(s.scalars(select(column).where(column.in_([pair.outside, pair.inside]))))
