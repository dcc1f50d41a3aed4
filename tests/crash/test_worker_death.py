"""A worker killed mid-job: another worker process takes the job over within seconds (one
short lease), not after the ten minutes the lease used to last."""

from __future__ import annotations

import subprocess
import sys
import time

from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.adapters.job_queue import Job
from minimaker.generation import service as generation
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from minimaker.uploads import service as uploads
from tests.conftest import photo_bytes
from tests.crash.conftest import ROOT, Step, assert_killed, assert_nothing_left_behind

LEASE_S = 2


def _job(c: Container) -> Job:
    with c.sessions() as s:
        (job,) = s.scalars(select(Job).where(Job.kind == "generate_model"))
        return job


def test_the_default_lease_is_seconds_not_minutes() -> None:
    assert Settings.model_fields["job_lease_s"].default <= 30


def test_a_job_of_a_killed_worker_is_finished_by_another_worker_one_lease_later(
    container: Container, crash_env: dict[str, str], step: Step
) -> None:
    c = container
    ada = accounts.signup(
        c, name="Ada Example", email="ada@example.org", username="ada", password="long enough pw"
    ).id
    upload = uploads.create_upload(c, user_id=ada, data=photo_bytes())
    model = generation.request_model(c, user_id=ada, upload_id=upload.id)
    env = {**crash_env, "MINIMAKER_JOB_LEASE_S": str(LEASE_S), "MINIMAKER_WORKER_POLL_S": "0.2"}

    assert_killed(step("worker", crash_at="generation.mid_job", MINIMAKER_JOB_LEASE_S="2"))
    died = time.monotonic()
    assert _job(c).status == "running"  # claimed by the dead worker, its lease not yet out

    other = subprocess.Popen(
        [sys.executable, "-m", "minimaker.entrypoints.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while _job(c).status != "done" and time.monotonic() - died < 30:
            time.sleep(0.1)
        took = time.monotonic() - died
    finally:
        other.terminate()
        other.wait(timeout=30)

    job = _job(c)
    assert (job.status, job.attempts) == ("done", 2)
    # One lease, a poll, a process start and the generation itself: seconds, not 600.
    assert took < LEASE_S + 13, took
    assert generation.get_model(c, user_id=ada, model_id=model.id).status == "done"
    assert_nothing_left_behind(c)
