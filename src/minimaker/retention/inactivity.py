"""Inactive accounts: warned at the warning rule (23 months unused), erased at the erasure
rule (24 months) unless "keep my account" was pressed or they signed in since.

The warning goes through the outbox with a single-use link (only its SHA-256 is kept). The
erasure is filed as an erasure request, so the one erasure use case (rights/erasure.py)
carries it out with everything it guarantees: key first, every declared table, the audit.
An account is erased only if it was warned since its last use, at least NOTICE_PERIOD ago.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select

from minimaker.accounts import expiry as accounts
from minimaker.kernel.actors import SYSTEM_RETENTION, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound
from minimaker.kernel.retention import Expiry, Found
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail import outbox
from minimaker.retention import events
from minimaker.retention.rules import NOTICE_PERIOD
from minimaker.retention.tables import InactivityNotice
from minimaker.rights import intake
from minimaker.rights.rules import RequestType

#: Where the link points, below the public URL (retention/api.py).
PATH = "/api/v1/account/keep/"
KIND = "inactivity_warning"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _warned_since_use(uow: Any, found: list[Found]) -> dict[str, Any]:
    """Subject -> warned_at, for the found accounts warned after their last use."""
    ids = [f.key for f in found]
    rows = uow.session.execute(
        select(InactivityNotice.subject_id, InactivityNotice.warned_at).where(
            InactivityNotice.subject_id.in_(ids)
        )
    ).all()
    anchors = {f.key: f.anchor for f in found}
    return {s: w for s, w in rows if anchors[s] is not None and w >= anchors[s]}


def _not_yet_warned(uow: Any, found: list[Found]) -> list[Found]:
    warned = _warned_since_use(uow, found)
    return [f for f in found if f.key not in warned]


def _warned_long_enough(uow: Any, found: list[Found]) -> list[Found]:
    warned = _warned_since_use(uow, found)
    latest = uow.c.clock.now() - NOTICE_PERIOD
    return [f for f in found if f.key in warned and warned[f.key] <= latest]


def _warn(uow: Any, keys: Sequence[Any]) -> int:
    sent = 0
    for subject_id in keys:
        token = secrets.token_urlsafe(32)
        link = f"{uow.c.settings.public_url.rstrip('/')}{PATH}{token}"
        queued = outbox.queue_to_subject(
            uow,
            subject_id=subject_id,
            kind=KIND,
            subject="Your MiniMaker account will be deleted in a month",
            body="You have not used your MiniMaker account for almost two years. As our "
            "privacy policy says, we delete unused accounts with their photos and models after "
            "two years. To keep yours, open this link and press Keep, or simply sign in:\n\n"
            f"{link}\n\nIf you do nothing, your account is deleted in a month.",
        )
        if queued is None:
            continue
        uow.session.execute(
            delete(InactivityNotice).where(InactivityNotice.subject_id == subject_id)
        )
        uow.session.add(
            InactivityNotice(
                subject_id=subject_id, token_hash=_digest(token), warned_at=uow.c.clock.now()
            )
        )
        uow.audit(events.ACCOUNT_WARNED, actor=SYSTEM_RETENTION, subject=subject_id)
        sent += 1
    return sent


def _file_erasure(uow: Any, keys: Sequence[Any]) -> int:
    filed = 0
    for subject_id in keys:
        if intake.has_open_erasure(uow, subject_id):
            continue  # filed at an earlier sweep, not yet carried out: once is enough
        row = intake.create_request(
            uow,
            subject_id=subject_id,
            type=RequestType.ERASURE,
            details=None,
            channel="retention",
            actor=SYSTEM_RETENTION,
            verified=True,
        )
        uow.audit(
            events.ERASURE_FILED,
            actor=SYSTEM_RETENTION,
            subject=subject_id,
            object=f"request:{row.id}",
        )
        filed += 1
    return filed


def expiries() -> tuple[Expiry, ...]:
    """warn_inactive and erase_inactive (policy category account)."""
    return (
        accounts.inactive_accounts(
            rule="warn_inactive",
            what="inactive accounts warned",
            remove=_warn,
            post_filter=_not_yet_warned,
        ),
        accounts.inactive_accounts(
            rule="erase_inactive",
            what="inactive accounts erased",
            remove=_file_erasure,
            post_filter=_warned_long_enough,
        ),
    )


def _notice(uow: UnitOfWork, token: str) -> InactivityNotice:
    if not _TOKEN.fullmatch(token):
        raise NotFound("link")
    notice = uow.session.scalars(
        select(InactivityNotice).where(InactivityNotice.token_hash == _digest(token))
    ).first()
    if notice is None:
        raise NotFound("link")
    return notice


def check_link(c: Container, *, token: str) -> None:
    """NotFound unless `token` is a live "keep my account" link (opening it changes nothing)."""
    with c.uow(write=False) as uow:
        _notice(uow, token)


def keep_account(c: Container, *, token: str) -> None:
    """ "Keep my account": the link's account counts as used now; the link is used up."""
    with c.uow() as uow:
        notice = _notice(uow, token)
        subject_id = notice.subject_id
        accounts.mark_active(uow, subject_id, c.clock.now())
        uow.session.delete(notice)
        uow.audit(events.ACCOUNT_KEPT, actor=Actor.subject(subject_id), subject=subject_id)
        uow.commit()
