"""Download links (policy 6, 13): the archive of a request made without the app reaches its
subject by a single-use, expiring link in the completion mail, with no account needed.

Whoever asked by email (or had staff record the request) may have no way to sign in. The
completion mail goes to the verified address on file, and the link in it is the proof, as
the confirmation link was: unguessable (`secrets.token_urlsafe(32)`), only its SHA-256
stored. It dies with the archive: it expires when the archive does, answers 410 once the
expiry duty deleted the archive, and after one download; an erasure deletes it (the
personal-data registry names its table). Opening it (GET) changes nothing, so a mail
scanner that fetches the link downloads nothing and uses nothing up: the page's button
POSTs, and only that uses the link.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import access
from minimaker.rights.public_intake import TOKEN, VerificationLinkGone, digest
from minimaker.rights.rules import RequestType
from minimaker.rights.tables import Archive, ArchiveLink, RightsRequest

#: Where the links point, below the public URL.
PATH = "/api/v1/privacy/download/"
_ARCHIVE_KINDS = frozenset({RequestType.ACCESS.value, RequestType.PORTABILITY.value})
#: The channel whose subject is signed in and downloads from the privacy centre instead.
_APP = "app"
_LINK = "download link"


@dataclass(frozen=True)
class IssuedLink:
    """A link just made: its address (the only copy of the token) and when it stops working."""

    url: str
    expires_at: datetime

    @property
    def instructions(self) -> str:
        """The paragraph of the completion mail that carries the link."""
        return (
            "Download your data with this link. It works once, until "
            f"{self.expires_at:%Y-%m-%d %H:%M} UTC; open it and press the Download button:"
            f"\n\n{self.url}\n\nNobody needs an account for it, so do not forward this email."
        )


@dataclass(frozen=True)
class PendingDownload:
    """What the page of a live link shows before anything is downloaded."""

    kind: str
    size_bytes: int
    expires_at: datetime


@dataclass(frozen=True)
class LinkDownload:
    """A decrypted archive on its way to whoever holds the link."""

    archive_id: str
    filename: str
    size_bytes: int
    chunks: Iterator[bytes]


def issue(uow: UnitOfWork, request: RightsRequest) -> IssuedLink | None:
    """A link to a completed request's archive if its subject asked without the app, else None."""
    if request.channel == _APP or request.type not in _ARCHIVE_KINDS or not request.result_ref:
        return None
    archive = uow.session.get(Archive, request.result_ref)
    now = uow.c.clock.now()
    if archive is None or archive.request_id != request.id or archive.expires_at <= now:
        return None
    token = secrets.token_urlsafe(32)
    uow.session.add(
        ArchiveLink(
            token_hash=digest(token),
            request_id=request.id,
            archive_id=archive.id,
            expires_at=archive.expires_at,
        )
    )
    url = f"{uow.c.settings.public_url.rstrip('/')}{PATH}{token}"
    return IssuedLink(url=url, expires_at=archive.expires_at)


def _live(uow: UnitOfWork, token: str) -> tuple[ArchiveLink, Archive]:
    """The link and its archive if it can be used; 404 unknown or malformed, 410 if gone."""
    link = uow.session.get(ArchiveLink, digest(token)) if TOKEN.fullmatch(token) else None
    if link is None:
        raise NotFound(_LINK)
    if link.used_at is not None:
        raise VerificationLinkGone("was already used", link=_LINK)
    archive = uow.session.get(Archive, link.archive_id)
    if archive is None:
        raise VerificationLinkGone("no longer works: the archive was deleted", link=_LINK)
    if min(link.expires_at, archive.expires_at) <= uow.c.clock.now():
        raise VerificationLinkGone("has expired", link=_LINK)
    return link, archive


def pending(c: Container, *, token: str) -> PendingDownload:
    """What the link would download; reading it changes nothing."""
    with c.uow(write=False) as uow:
        link, archive = _live(uow, token)
        return PendingDownload(archive.kind, archive.size_bytes, link.expires_at)


def redeem(c: Container, *, token: str) -> LinkDownload:
    """Use the link once: the decrypted archive, the link spent, the download audited."""
    with c.uow() as uow:
        link, archive = _live(uow, token)
        # The guard on used_at makes two downloads racing for one link resolve to one.
        used = uow.session.execute(
            update(ArchiveLink)
            .where(ArchiveLink.token_hash == link.token_hash)
            .where(ArchiveLink.used_at.is_(None))
            .values(used_at=c.clock.now())
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise VerificationLinkGone("was already used", link=_LINK)
        # The link, sent to the verified address on file, proves the subject (Art. 12(6)).
        chunks = access.audited_stream(uow, archive, via="link")
        uow.commit()
    filename = f"minimaker-{archive.kind}-{link.request_id}.zip"  # ids only, never a name
    return LinkDownload(archive.id, filename, archive.size_bytes, chunks)
