"""The anchors the rules count from move when the data is used: a sign-in, a download."""

from __future__ import annotations

from sqlalchemy import select

from minimaker import bootstrap
from minimaker.accounts import service as accounts
from minimaker.entrypoints.worker import Worker
from minimaker.generation import service as generation
from minimaker.generation.tables import Model3D
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.retention import service as retention
from minimaker.uploads import service as uploads
from tests.conftest import photo_bytes
from tests.retention.world import PASSWORD, signup


def test_signing_in_keeps_an_account_from_counting_as_inactive(
    container: Container, clock: ManualClock
) -> None:
    c = container
    signup(c, "ada")
    clock.advance(days=365 * 2 - 40)
    accounts.login(c, login="ada", password=PASSWORD, client_ip="192.0.2.1")
    clock.advance(days=20)  # 23 months after sign-up, 20 days after the last sign-in
    report = retention.run(c, bootstrap.expiries(), rules=frozenset({"warn_inactive"}))
    assert report.removed == 0


def test_a_download_is_the_models_last_use(
    container: Container, clock: ManualClock, worker: Worker
) -> None:
    c = container
    ada = signup(c, "ada")
    up = uploads.create_upload(c, user_id=ada, data=photo_bytes())
    model = generation.request_model(c, user_id=ada, upload_id=up.id)
    worker.run_until_idle()
    clock.advance(days=300)
    _, chunks = generation.open_model_content(c, user_id=ada, model_id=model.id, fmt="stl")
    b"".join(chunks)
    with c.sessions() as s:
        assert s.scalar(select(Model3D.last_used_at)) == clock.now()
