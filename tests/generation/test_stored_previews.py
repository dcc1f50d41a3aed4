"""Previews drawn once, when a model is made, and served as stored (issue 12, item 3): each
view encrypted under the owner's key like the model's files, handed back byte for byte
without drawing, erased, expired, swept and exported with the model; a model made before
previews were stored still gets one, drawn from its STL, and nothing is written for it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import delete, select, update

from minimaker import bootstrap
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.worker import Worker
from minimaker.generation import limits, preview
from minimaker.generation.export import iter_export
from minimaker.generation.relief import ReliefParams, relief_from_image
from minimaker.generation.rules import preview_views
from minimaker.generation.tables import Model3D, ModelFile, ModelPreview
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations import sweep
from minimaker.operations.backup import create_backup
from minimaker.operations.restore import restore_backup
from minimaker.retention import service as retention
from minimaker.rights import intake
from minimaker.uploads.tables import Upload
from tests.browser import api_headers, generate, model_ids, photo_ids, signed_in, upload
from tests.conftest import photo_bytes, signup_and_login
from tests.generation.photos import synthetic_portrait
from tests.uploads.test_api import _upload

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Made:
    """A finished model of a fresh account, over the API."""

    user_id: str
    model_id: str
    headers: dict[str, str]


def _made(client: TestClient, worker: Worker, mode: str, username: str = "ada") -> Made:
    headers = signup_and_login(client, username=username)
    out = io.BytesIO()
    synthetic_portrait().save(out, "PNG")
    upload_id = _upload(client, headers, out.getvalue()).json()["id"]
    r = client.post(f"/api/v1/uploads/{upload_id}/models", json={"mode": mode}, headers=headers)
    assert r.status_code == 202, r.text
    worker.run_until_idle()
    user_id = client.get("/api/v1/me", headers=headers).json()["id"]
    return Made(user_id, str(r.json()["id"]), headers)


def _stored(c: Container, model_id: str) -> dict[str, ModelPreview]:
    with c.sessions() as s:
        rows = s.scalars(select(ModelPreview).where(ModelPreview.model_id == model_id))
        return {row.view: row for row in rows}


def _plain(c: Container, user_id: str, blob_id: str) -> bytes:
    return bytes(c.blobs.read_bytes(c.keys.subject_key(user_id), blob_id))


def _url(made: Made, view: str, page: bool = False) -> str:
    prefix = "/app" if page else "/api/v1"
    return f"{prefix}/models/{made.model_id}/preview.png?view={view}"


@pytest.mark.parametrize(
    ("mode", "views"),
    [("relief", {"shaded"}), ("lithophane", {"shaded", "backlit"}), ("figurine", {"shaded"})],
)
def test_generation_stores_each_view_encrypted_under_the_owners_key(
    client: TestClient, container: Container, worker: Worker, mode: str, views: set[str]
) -> None:
    made = _made(client, worker, mode)
    stored = _stored(container, made.model_id)
    assert set(stored) == views
    for row in stored.values():
        assert row.owner_id == made.user_id
        with container.blobs.store.open_read(row.blob_id) as fh:
            at_rest = fh.read()
        assert PNG_SIGNATURE not in at_rest  # ciphertext on disk, not a PNG
        plain = _plain(container, made.user_id, row.blob_id)
        assert plain.startswith(PNG_SIGNATURE) and row.size_bytes == len(plain)
        image = Image.open(io.BytesIO(plain))
        assert image.format == "PNG" and max(image.size) == preview.PREVIEW_SIDE
        assert np.ptp(np.asarray(image)) > 50  # something is drawn
    # a preview is no download: the formats offered are the model's files only
    model = client.get(f"/api/v1/models/{made.model_id}", headers=made.headers).json()
    assert model["formats"] == ["stl", "glb", "obj"]
    r = client.get(f"/api/v1/models/{made.model_id}/content?format=shaded", headers=made.headers)
    assert r.status_code == 422, r.text


def test_the_stored_preview_is_served_as_stored_even_with_the_model_file_gone(
    client: TestClient, container: Container, worker: Worker
) -> None:
    made = _made(client, worker, "lithophane")
    stored = _stored(container, made.model_id)
    with container.sessions() as s:
        stl = s.get_one(ModelFile, (made.model_id, "stl")).blob_id
    assert container.blobs.store.delete(stl)  # nothing left to draw from
    # Replaced by a PNG no drawing makes: what is served is the blob, byte for byte.
    marker = io.BytesIO()
    Image.new("L", (3, 2), 77).save(marker, "PNG")
    dek = container.keys.subject_key(made.user_id)
    container.blobs.put(dek, io.BytesIO(marker.getvalue()), blob_id=stored["backlit"].blob_id)
    r = client.get(_url(made, "shaded"), headers=made.headers)
    assert r.status_code == 200, r.text
    assert r.content == _plain(container, made.user_id, stored["shaded"].blob_id)
    assert r.headers["cache-control"] == "private, no-store"
    r = client.get(_url(made, "backlit"), headers=made.headers)
    assert r.status_code == 200 and r.content == marker.getvalue()
    assert _actions(container, made.user_id) >= {"model:preview:read"}
    assert "model:preview:drawn" not in _actions(container, made.user_id)


def _actions(c: Container, subject_id: str) -> set[str]:
    with c.sessions() as s:
        return set(s.scalars(select(AuditEntry.action).where(AuditEntry.subject == subject_id)))


def test_the_card_serves_the_stored_preview_to_its_owner_only(
    client: TestClient, other_browser: TestClient, container: Container, worker: Worker
) -> None:
    signed_in(client)
    upload(client, photo_bytes(width=64, height=64))
    (photo_id,) = photo_ids(client.get("/app").text)
    assert generate(client, photo_id, mode="lithophane").status_code == 303
    worker.run_until_idle()
    (model_id,) = model_ids(client.get("/app").text)
    owner = client.get("/api/v1/me", headers=api_headers(client)).json()["id"]
    stored = _stored(container, model_id)
    for view in ("shaded", "backlit"):
        r = client.get(f"/app/models/{model_id}/preview.png?view={view}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content == _plain(container, owner, stored[view].blob_id)
    signed_in(other_browser, "grace")
    for view in ("shaded", "backlit"):
        assert (
            other_browser.get(f"/app/models/{model_id}/preview.png?view={view}").status_code == 404
        )


def test_someone_elses_stored_preview_is_not_found_like_an_unknown_one(
    client: TestClient, worker: Worker
) -> None:
    made = _made(client, worker, "lithophane")
    other = signup_and_login(client, username="grace")
    unknown = client.get("/api/v1/models/" + "0" * 32 + "/preview.png", headers=other)
    for view in ("shaded", "backlit"):
        r = client.get(_url(made, view), headers=other)
        assert r.status_code == 404 and r.json() == unknown.json()


@pytest.mark.parametrize("mode", ["relief", "figurine"])
def test_only_a_lithophane_has_a_backlit_view(
    client: TestClient, container: Container, worker: Worker, mode: str
) -> None:
    made = _made(client, worker, mode)
    r = client.get(_url(made, "backlit"), headers=made.headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "view", r.text
    assert client.get(_url(made, "shaded"), headers=made.headers).status_code == 200
    assert set(_stored(container, made.model_id)) == {"shaded"}


def _as_made_before_previews(c: Container, model_id: str) -> None:
    """What a model made before this change looks like: its files and no preview."""
    for row in _stored(c, model_id).values():
        assert c.blobs.store.delete(row.blob_id)
    with c.uow() as uow:
        uow.session.execute(delete(ModelPreview).where(ModelPreview.model_id == model_id))
        uow.commit()


@pytest.mark.parametrize("mode", ["relief", "lithophane", "figurine"])
def test_a_model_made_before_previews_were_stored_gets_one_drawn_and_nothing_is_written(
    client: TestClient, container: Container, worker: Worker, mode: str
) -> None:
    made = _made(client, worker, mode)
    stored = {
        view: _plain(container, made.user_id, row.blob_id)
        for view, row in _stored(container, made.model_id).items()
    }
    _as_made_before_previews(container, made.model_id)
    blobs = set(container.blobs.store.iter_ids())
    for view, was in stored.items():
        r = client.get(_url(made, view), headers=made.headers)
        assert r.status_code == 200, r.text
        drawn = np.asarray(Image.open(io.BytesIO(r.content)), dtype=float)
        # drawn from the STL, the same picture as the one drawn from the mesh when made
        kept = np.asarray(Image.open(io.BytesIO(was)), dtype=float)
        assert drawn.shape == kept.shape and np.abs(drawn - kept).mean() < 1.0
    assert _stored(container, made.model_id) == {}  # no write on a read
    assert set(container.blobs.store.iter_ids()) == blobs
    assert "model:preview:drawn" in _actions(container, made.user_id)


def _preview_blobs(c: Container, user_id: str) -> set[str]:
    with c.sessions() as s:
        return set(s.scalars(select(ModelPreview.blob_id).where(ModelPreview.owner_id == user_id)))


def test_deleting_the_model_deletes_its_previews(
    client: TestClient, container: Container, worker: Worker
) -> None:
    made = _made(client, worker, "lithophane")
    previews = _preview_blobs(container, made.user_id)
    assert len(previews) == 2
    r = client.delete(f"/api/v1/models/{made.model_id}", headers=made.headers)
    assert r.status_code == 204
    assert _preview_blobs(container, made.user_id) == set()
    assert previews.isdisjoint(container.blobs.store.iter_ids())
    assert client.get(_url(made, "shaded"), headers=made.headers).status_code == 404


def test_erasing_the_account_erases_its_previews_and_no_one_elses(
    client: TestClient, container: Container, worker: Worker
) -> None:
    ada = _made(client, worker, "lithophane")
    grace = _made(client, worker, "relief", username="grace")
    adas, graces = _preview_blobs(container, ada.user_id), _preview_blobs(container, grace.user_id)
    intake.submit(container, user_id=ada.user_id, type="erasure")
    worker.run_until_idle()
    assert not container.keys.has_subject_key(ada.user_id)
    assert _preview_blobs(container, ada.user_id) == set()
    stored = set(container.blobs.store.iter_ids())
    assert adas.isdisjoint(stored) and graces <= stored
    assert client.get(_url(grace, "shaded"), headers=grace.headers).status_code == 200


def test_a_model_past_its_retention_goes_with_its_previews(
    client: TestClient, container: Container, worker: Worker
) -> None:
    kept, old = _made(client, worker, "lithophane"), _made(client, worker, "relief", "grace")
    olds = _preview_blobs(container, old.user_id)
    with container.uow() as uow:  # made, and last downloaded, 25 months ago (the rule: 24)
        past = container.clock.now() - timedelta(days=25 * 31)
        uow.session.execute(
            update(Model3D).where(Model3D.id == old.model_id).values(created_at=past)
        )
        uow.commit()
    retention.run(container, bootstrap.expiries())
    with container.sessions() as s:
        assert s.get(Model3D, old.model_id) is None
    assert _preview_blobs(container, old.user_id) == set()
    assert olds.isdisjoint(container.blobs.store.iter_ids())
    assert len(_preview_blobs(container, kept.user_id)) == 2


def test_the_sweep_keeps_stored_previews_and_takes_an_orphaned_one(
    client: TestClient, container: Container, worker: Worker, clock: ManualClock
) -> None:
    made = _made(client, worker, "lithophane")
    stored = _stored(container, made.model_id)
    with container.uow() as uow:  # a row gone without its blob, as a kill can leave it
        uow.session.execute(
            delete(ModelPreview).where(
                ModelPreview.model_id == made.model_id, ModelPreview.view == "backlit"
            )
        )
        uow.commit()
    clock.advance(seconds=container.settings.sweep_grace_s + 300)
    assert sweep.sweep_strays(container).orphans == 1
    left = set(container.blobs.store.iter_ids())
    assert stored["shaded"].blob_id in left and stored["backlit"].blob_id not in left


def test_the_previews_count_against_the_storage_quota(
    client: TestClient, container: Container, worker: Worker
) -> None:
    made = _made(client, worker, "lithophane")
    with container.uow(write=False) as uow:
        used = limits.stored_bytes(uow, made.user_id)
        photos = sum(uow.session.scalars(select(Upload.size_bytes)))
        files = sum(uow.session.scalars(select(ModelFile.size_bytes)))
    shown = sum(row.size_bytes for row in _stored(container, made.model_id).values())
    assert shown > 0 and used == photos + files + shown


def test_a_backup_keeps_the_previews_and_a_restore_brings_them_back(
    client: TestClient, container: Container, worker: Worker, tmp_path: Path
) -> None:
    made = _made(client, worker, "lithophane")
    before = {view: _served(client, made, view) for view in ("shaded", "backlit")}
    create_backup(container, tmp_path / "backup.tar")
    assert client.delete(f"/api/v1/models/{made.model_id}", headers=made.headers).status_code == 204
    assert client.get(_url(made, "shaded"), headers=made.headers).status_code == 404
    restore_backup(container, tmp_path / "backup.tar")
    assert set(_stored(container, made.model_id)) == {"shaded", "backlit"}
    assert {view: _served(client, made, view) for view in before} == before


def _served(client: TestClient, made: Made, view: str) -> bytes:
    r = client.get(_url(made, view), headers=made.headers)
    assert r.status_code == 200, r.text
    return r.content


@pytest.mark.parametrize("mode", ["relief", "lithophane", "figurine"])
def test_the_previews_drawn_from_the_mesh_are_those_its_stl_gives(mode: str) -> None:
    mesh = relief_from_image(synthetic_portrait(), ReliefParams(mode=mode, max_resolution=128))
    blocks = list(iter_export(mesh, "stl"))
    made = preview.model_pngs(mesh, mode)
    assert set(made) == set(preview_views(mode))
    for view, png in made.items():
        depth = preview.stl_depth_map(lambda: blocks, preview.camera(mode))
        assert png == preview.draw(view, depth), view
