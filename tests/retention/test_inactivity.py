"""Inactive accounts: warned at 23 months through the outbox, kept with one click, erased
at 24 months through the erasure use case."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from minimaker import bootstrap
from minimaker.accounts.tables import User
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.mail import folder, outbox
from minimaker.mail.tables import OutboxMessage
from minimaker.retention import inactivity
from minimaker.retention import service as retention
from minimaker.rights import erasure
from minimaker.rights.tables import RightsRequest
from tests.retention.world import signup

_RULES = frozenset({"warn_inactive", "erase_inactive"})


def _sweep(c: Container) -> dict[str, int]:
    return dict(retention.counts(retention.run(c, bootstrap.expiries(), rules=_RULES)))


def _link_token(c: Container, subject_id: str) -> str:
    with c.uow(write=False) as uow:
        row = uow.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.subject_id == subject_id, OutboxMessage.kind == inactivity.KIND
            )
        ).one()
        body = outbox.open_message(uow, row)["body"]
    match = re.search(re.escape(inactivity.PATH) + r"([A-Za-z0-9_-]{43})", body)
    assert match is not None
    return match.group(1)


def _exists(c: Container, subject_id: str) -> bool:
    with c.sessions() as s:
        return s.get(User, subject_id) is not None


def test_an_unused_account_is_warned_then_erased_and_a_kept_one_is_not(
    container: Container, clock: ManualClock, worker: Worker
) -> None:
    c = container
    ada, bob = signup(c, "ada"), signup(c, "bob")
    clock.advance(days=365 * 2 - 25)  # 23 months and a few days
    assert _sweep(c) == {"warn_inactive": 2, "erase_inactive": 0}
    assert _sweep(c)["warn_inactive"] == 0  # warned once, not at every sweep
    inactivity.keep_account(c, token=_link_token(c, bob))  # bob presses "keep my account"
    clock.advance(days=29)
    assert _sweep(c)["erase_inactive"] == 0  # 24 months, but the month's notice is not over
    clock.advance(days=2)
    assert _sweep(c) == {"warn_inactive": 0, "erase_inactive": 1}
    with c.sessions() as s:
        channel = s.scalar(select(RightsRequest.channel).where(RightsRequest.subject_id == ada))
    assert channel == "retention"
    assert _sweep(c)["erase_inactive"] == 0  # filed once, not again while it waits
    worker.run_until_idle()  # the erasure request, fulfilled by rights/erasure.py
    assert not _exists(c, ada) and not c.keys.has_subject_key(ada)
    assert _exists(c, bob)
    # The last message says why: the policy's rule they were warned of, not "as you asked".
    with c.sessions() as s:
        sent = s.scalars(
            select(OutboxMessage.id).where(OutboxMessage.kind == erasure.CONFIRMATION)
        ).one()
    body = " ".join(folder.folder_mailer(c).read(sent).split())  # unfolded from the MIME text
    assert "not been used" in body and "As you asked" not in body


def test_a_keep_link_works_once(container: Container, clock: ManualClock) -> None:
    import pytest

    from minimaker.kernel.errors import NotFound

    c = container
    ada = signup(c, "ada")
    clock.advance(days=365 * 2 - 25)
    _sweep(c)
    token = _link_token(c, ada)
    inactivity.keep_account(c, token=token)
    for bad in (token, "x" * 43, "not a token"):
        with pytest.raises(NotFound):
            inactivity.keep_account(c, token=bad)


def test_the_emailed_link_opens_a_page_whose_button_keeps_the_account(
    container: Container, clock: ManualClock, client: Any
) -> None:
    c = container
    ada = signup(c, "ada")
    clock.advance(days=365 * 2 - 25)
    _sweep(c)
    path = inactivity.PATH + _link_token(c, ada)
    page = client.get(path)
    assert page.status_code == 200 and "Keep my account" in page.text
    assert _sweep(c)["warn_inactive"] == 0  # opening the page kept nothing, warned nothing
    clock.advance(days=31)
    assert client.post(path).status_code == 200
    assert _sweep(c)["erase_inactive"] == 0  # kept: not erased
    assert client.get(path).status_code == 404  # used up
