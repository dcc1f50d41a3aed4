"""Art. 18(3): a restriction is lifted only after the subject has been told, in that order.

The order is a fact of the database: the notice is committed while the restriction still
holds, and only a later commit lifts it. These tests watch every commit of a lift (and kill
a real worker between the two), so telling the subject after lifting, or in the same
commit, fails them.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from minimaker.accounts.tables import User
from minimaker.bootstrap import build
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.mail.tables import OutboxMessage
from minimaker.rights import restriction
from minimaker.settings import Settings
from tests.conftest import signup_and_login
from tests.processes import process_env, run_module

Headers = dict[str, str]


@dataclass(frozen=True)
class State:
    """What a commit left: is the subject told (a lift notice queued), is data restricted."""

    told: int
    restricted: bool


def state(c: Container, user_id: str) -> State:
    with c.engine.connect() as conn:
        told = conn.scalar(
            select(func.count()).where(
                OutboxMessage.subject_id == user_id,
                OutboxMessage.kind == restriction.LIFTED_NOTICE,
            )
        )
        since = conn.scalar(select(User.restricted_at).where(User.id == user_id))
    return State(int(told or 0), since is not None)


@contextmanager
def every_commit(c: Container, user_id: str) -> Iterator[list[State]]:
    """The state after each commit made through the container's sessions meanwhile."""
    seen: list[State] = []

    def look(session: Session) -> None:
        seen.append(state(c, user_id))

    event.listen(c.sessions, "after_commit", look)
    try:
        yield seen
    finally:
        event.remove(c.sessions, "after_commit", look)


def restricted_ada(client: TestClient, worker: Worker) -> tuple[Headers, str]:
    headers = signup_and_login(client)
    user_id = str(client.get("/api/v1/me", headers=headers).json()["id"])
    ask_restriction(client, headers, "restrict")
    worker.run_until_idle()
    assert client.get("/api/v1/privacy/preferences", headers=headers).json()["restricted"]
    return headers, user_id


def ask_restriction(client: TestClient, headers: Headers, action: str) -> None:
    body = {"type": "restriction", "details": {"action": action}}
    r = client.post("/api/v1/privacy/requests", json=body, headers=headers)
    assert r.status_code in (201, 202), r.text


def test_the_subject_is_told_in_a_commit_before_the_one_that_lifts_the_restriction(
    client: TestClient, container: Container, worker: Worker
) -> None:
    headers, ada = restricted_ada(client, worker)
    ask_restriction(client, headers, "lift")
    with every_commit(container, ada) as seen:
        worker.run_until_idle()
    # Told while the restriction still held: a commit with the notice and the restriction.
    assert State(told=1, restricted=True) in seen
    # Never lifted untold: no commit shows the restriction gone without the notice queued.
    assert State(told=0, restricted=False) not in seen
    first_told = next(i for i, s in enumerate(seen) if s.told)
    first_lifted = next(i for i, s in enumerate(seen) if not s.restricted)
    assert first_told < first_lifted
    assert seen[-1] == State(told=1, restricted=False)
    assert client.get("/api/v1/privacy/preferences", headers=headers).json()["restricted"] is False


def test_lifting_what_is_not_restricted_tells_nobody(
    client: TestClient, container: Container, worker: Worker
) -> None:
    headers = signup_and_login(client)
    user_id = str(client.get("/api/v1/me", headers=headers).json()["id"])
    ask_restriction(client, headers, "lift")
    worker.run_until_idle()
    assert state(container, user_id) == State(told=0, restricted=False)


def test_a_worker_killed_between_telling_and_lifting_leaves_the_restriction_in_force(
    client: TestClient, container: Container, worker: Worker, settings: Settings
) -> None:
    headers, ada = restricted_ada(client, worker)
    ask_restriction(client, headers, "lift")
    env = process_env(settings, MINIMAKER_CRASH_AT="restriction.subject_told")
    died = run_module("tests.crash.driver", "worker", env=env)
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    # The subject was told and the data is still restricted: the safe side of the order.
    assert state(container, ada) == State(told=1, restricted=True)

    later = ManualClock()
    later.advance(seconds=settings.job_lease_s + 60)  # the dead worker's lease ran out
    restarted = build(settings, clock=later)
    try:
        Worker(restarted).run_until_idle()
    finally:
        restarted.close()
    # The retried job tells again (mail is at least once) and then lifts it.
    assert state(container, ada) == State(told=2, restricted=False)
