"""Generation limits (policy 3.6): the output cap checked before any mesh is built, the
storage quota with queued models reserved at their estimate, the rate and concurrency of
requests (429 with an honest Retry-After), and every bad max_resolution refused. Each
refusal writes nothing: no model row, no job, no blob."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from minimaker.entrypoints.worker import Worker
from minimaker.generation.rules import model_bytes
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from tests.conftest import photo_bytes, signup_and_login
from tests.uploads.test_api import _counts, _upload

PHOTO = photo_bytes()  # 48 x 32
AT_64 = model_bytes(48, 32, 64)  # the estimate at the suite's default resolution


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "generation_rate_limit": 100,
            "generation_max_active": 100,
            "storage_quota_bytes": 10**9,
        }
    )


def _photo(client: TestClient) -> tuple[dict[str, str], str]:
    headers = signup_and_login(client)
    return headers, _upload(client, headers, PHOTO).json()["id"]


def _request(client: TestClient, headers: dict[str, str], upload_id: str, **body: object):
    return client.post(f"/api/v1/uploads/{upload_id}/models", json=body, headers=headers)


def test_a_model_over_the_output_cap_is_refused_with_413_before_anything_is_written(
    client: TestClient, container: Container
) -> None:
    headers, upload_id = _photo(client)
    container.settings.max_model_bytes = AT_64 - 1
    before = _counts(container)
    r = _request(client, headers, upload_id)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "model_too_large"
    assert str(AT_64) in r.json()["error"]["message"]
    assert _counts(container) == before
    # a coarser grid fits under the same cap
    assert _request(client, headers, upload_id, max_resolution=32).status_code == 202


def test_the_job_checks_the_cap_again_and_builds_no_mesh_over_it(
    client: TestClient, container: Container, worker: Worker
) -> None:
    headers, upload_id = _photo(client)
    model_id = _request(client, headers, upload_id).json()["id"]
    container.settings.max_model_bytes = AT_64 - 1  # lowered after the request
    worker.run_until_idle()
    model = client.get(f"/api/v1/models/{model_id}", headers=headers).json()
    assert model["status"] == "failed"
    assert "max_resolution" in model["error"]
    assert _counts(container)[3] == 1  # the photo's blob only: no model file was written


def test_the_estimate_is_reserved_against_the_quota_until_the_model_is_done(
    client: TestClient, container: Container, worker: Worker
) -> None:
    headers, upload_id = _photo(client)
    container.settings.storage_quota_bytes = len(PHOTO) + AT_64 + AT_64 // 2
    assert _request(client, headers, upload_id).status_code == 202
    before = _counts(container)
    # the first model has written nothing yet, but its estimate is taken
    r = _request(client, headers, upload_id)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "quota_exceeded"
    assert _counts(container) == before
    worker.run_until_idle()
    # done: its files (no larger than the estimate) still take the room
    assert _request(client, headers, upload_id).status_code == 413
    models = client.get("/api/v1/models", headers=headers).json()
    assert [m["status"] for m in models] == ["done"]
    assert client.delete(f"/api/v1/models/{models[0]['id']}", headers=headers).status_code == 204
    assert _request(client, headers, upload_id).status_code == 202


def test_more_requests_than_the_rate_allows_get_429_with_an_honest_retry_after(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    container.settings.generation_rate_limit = 2
    container.settings.generation_rate_window_s = 600
    headers, upload_id = _photo(client)
    first = _request(client, headers, upload_id).json()["id"]
    clock.advance(seconds=100)
    assert _request(client, headers, upload_id).status_code == 202
    before = _counts(container)
    r = _request(client, headers, upload_id)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "generation_rate_limited"
    assert r.headers["Retry-After"] == "500"  # when the first request leaves the window
    assert _counts(container) == before
    # deleting a model does not buy a new request
    assert client.delete(f"/api/v1/models/{first}", headers=headers).status_code == 204
    clock.advance(seconds=499)
    again = _request(client, headers, upload_id)
    assert (again.status_code, again.headers["Retry-After"]) == (429, "1")
    clock.advance(seconds=1)
    assert _request(client, headers, upload_id).status_code == 202


def test_more_models_in_progress_than_allowed_get_429_until_one_is_done(
    client: TestClient, container: Container, worker: Worker, clock: ManualClock
) -> None:
    container.settings.generation_max_active = 1
    headers, upload_id = _photo(client)
    assert _request(client, headers, upload_id).status_code == 202
    before = _counts(container)
    r = _request(client, headers, upload_id)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "too_many_generations"
    assert int(r.headers["Retry-After"]) >= 1
    assert _counts(container) == before
    clock.advance(seconds=40)
    worker.run_until_idle()  # done, 40 s after it was asked for
    assert _request(client, headers, upload_id).status_code == 202
    clock.advance(seconds=10)
    busy = _request(client, headers, upload_id)
    # the last model took 40 s from request to done; this one has waited 10 s of that
    assert (busy.status_code, busy.headers["Retry-After"]) == (429, "30")


def test_another_subjects_limits_are_their_own(client: TestClient, container: Container) -> None:
    container.settings.generation_max_active = 1
    headers, upload_id = _photo(client)
    assert _request(client, headers, upload_id).status_code == 202
    other = signup_and_login(client, username="bob")
    theirs = _upload(client, other, PHOTO).json()["id"]
    assert _request(client, other, theirs).status_code == 202


@pytest.mark.parametrize("value", ["512", 1.5, True, -1, 0, 1, 2049, 4096, 10**12, [64], {"v": 64}])
def test_every_bad_max_resolution_is_refused_with_422_and_writes_nothing(
    client: TestClient, container: Container, value: object
) -> None:
    headers, upload_id = _photo(client)
    before = _counts(container)
    r = _request(client, headers, upload_id, max_resolution=value)
    assert r.status_code == 422, (value, r.text)
    assert _counts(container) == before
