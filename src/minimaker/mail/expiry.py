"""The retention mechanics of the outbox: delivered mail goes, its folder file with it.

A delivered message keeps only its id, kind and times, which the audit entry of its sending
holds already (mail:message:sent), so its row goes at once (delivered_mail). Without SMTP a
message is "delivered" into the outbox folder for an operator to pass on; its file and row
stay for mail_files' duration, then both go.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func

from minimaker.kernel.retention import Expiry, Found
from minimaker.mail import folder
from minimaker.mail.outbox import FAILED, SENT
from minimaker.mail.tables import OutboxMessage
from minimaker.retention.declare import delete_rows, table_expiry

_DONE = (OutboxMessage.status.in_([SENT, FAILED]),)
_ANCHOR = func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at)
_delete = delete_rows(OutboxMessage, OutboxMessage.id)


def _has_file(uow: Any, key: str) -> bool:
    return folder.folder_mailer(uow.c).path_of(key).exists()


def _without_file(uow: Any, found: list[Found]) -> list[Found]:
    return [f for f in found if not _has_file(uow, f.key)]


def _with_file(uow: Any, found: list[Found]) -> list[Found]:
    return [f for f in found if _has_file(uow, f.key)]


def _remove_with_files(uow: Any, keys: Sequence[Any]) -> int:
    mailer = folder.folder_mailer(uow.c)
    for key in keys:
        mailer.remove(key)
    return _delete(uow, keys)


def expiries() -> tuple[Expiry, ...]:
    """delivered_mail (rows with no file waiting) and mail_files (a file and its row)."""
    common: dict[str, Any] = {
        "category": "message",
        "table": OutboxMessage,
        "key": OutboxMessage.id,
        "anchor": _ANCHOR,
        "seek": OutboxMessage.created_at,  # a message is sent after it is written
        "subject": OutboxMessage.subject_id,
        "where": _DONE,
    }
    return (
        table_expiry(
            rule="delivered_mail", what="delivered messages", post_filter=_without_file, **common
        ),
        table_expiry(
            rule="mail_files",
            what="outbox folder files",
            post_filter=_with_file,
            remove=_remove_with_files,
            **common,
        ),
    )
