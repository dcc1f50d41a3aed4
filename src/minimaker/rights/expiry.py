"""The retention mechanics of rights tables: archives, verification and download links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from minimaker.kernel.actors import SYSTEM_RETENTION
from minimaker.kernel.retention import Expiry
from minimaker.retention.declare import table_expiry
from minimaker.rights import events
from minimaker.rights.tables import Archive, ArchiveLink, RightsRequest, VerificationToken


def _subject_of_request(link: Any) -> Any:
    return select(RightsRequest.subject_id).where(RightsRequest.id == link).scalar_subquery()


def _remove_archives(uow: Any, keys: Sequence[Any]) -> int:
    rows = uow.session.scalars(select(Archive).where(Archive.id.in_(keys))).all()
    for row in rows:
        uow.session.delete(row)
        uow.delete_blob_after_commit(row.blob_id)
        # Each archive is a copy of one subject's data: its end is theirs to see (Art. 15).
        uow.audit(
            events.ARCHIVE_EXPIRED,
            actor=SYSTEM_RETENTION,
            subject=row.subject_id,
            object=f"archive:{row.id}:{row.kind}",
        )
    return len(rows)


def expiries() -> tuple[Expiry, ...]:
    """Archives at their expiry (MINIMAKER_ARCHIVE_TTL_DAYS), links at theirs."""
    return (
        table_expiry(
            rule="archives",
            category="rights_archive",
            what="archives",
            table=Archive,
            key=Archive.id,
            anchor=Archive.expires_at,
            subject=Archive.subject_id,
            remove=_remove_archives,
        ),
        table_expiry(
            rule="verification_links",
            category="rights_request",
            what="verification links",
            table=VerificationToken,
            key=VerificationToken.token_hash,
            anchor=VerificationToken.expires_at,
            subject=_subject_of_request(VerificationToken.request_id),
        ),
        table_expiry(
            rule="download_links",
            category="rights_request",
            what="download links",
            table=ArchiveLink,
            key=ArchiveLink.token_hash,
            anchor=ArchiveLink.expires_at,
            subject=_subject_of_request(ArchiveLink.request_id),
        ),
    )
