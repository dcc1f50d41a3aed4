"""A retention sweep killed by SIGKILL mid-run ends, once rerun, exactly as one clean run
(issue 10): no expired row is left, no kept row or blob is lost, no blob is left behind for
long, and each photo and model that went was offered to the training corpus once."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import trimesh
from sqlalchemy import func, select

from minimaker.bootstrap import build
from minimaker.corpus.tables import StagedCopy
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations.sweep import sweep_strays
from minimaker.settings import Settings
from tests.conftest import photo_bytes
from tests.crash.conftest import Step, assert_killed
from tests.retention.world import Pair, build_world, keys_left, signup

#: One item a batch, so a run commits many times and a crash lands between them.
ONE_A_BATCH = {"MINIMAKER_RETENTION_BATCH": "1"}
#: The rules whose items carry blobs, each offered to the corpus before it goes.
OFFERED = ("photos", "models")


def _world(c: Container) -> dict[str, Pair]:
    """The retention world, its photos and models real ones (a PNG, a GLB box), so the sweep
    makes an anonymised corpus copy of each that goes."""
    ada = signup(c, "ada")
    pairs = build_world(c, ada)
    content = {
        "photos": photo_bytes(),
        "models": trimesh.creation.box().export(file_type="glb"),  # type: ignore[no-untyped-call]
    }
    with c.uow(write=False) as uow:
        dek = uow.keys.subject_key(ada)
    for rule in OFFERED:
        for blob_id in pairs[rule].blobs or ():
            c.blobs.put(dek, io.BytesIO(content[rule]), blob_id=blob_id)
    return pairs


def _stored(c: Container) -> set[str]:
    return set(c.blobs.store.iter_ids())


def _named(c: Container) -> set[str]:
    """Every blob a row of any declared table names (personal or not: the corpus too)."""
    with c.sessions() as s:
        return {
            blob_id
            for table, column in c.personal_data.blob_columns()
            for blob_id in s.scalars(select(getattr(table, column)))
            if blob_id is not None
        }


def _staged(c: Container) -> int:
    with c.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(StagedCopy)) or 0)


def _assert_as_one_clean_run(
    c: Container, pairs: dict[str, Pair], *, strays_swept: bool = True
) -> None:
    """The rows as one clean run left them, the kept blobs kept; and, once the stray sweep
    has run (a kill between a batch's commit and its blob deletes leaves those blobs to it),
    no expired blob either."""
    stored = _stored(c)
    for rule, pair in pairs.items():
        assert keys_left(c, pair) == {pair.inside}, rule
        if pair.blobs:
            assert pair.blobs[1] in stored, rule
            assert not strays_swept or pair.blobs[0] not in stored, rule
    assert _staged(c) == len([r for r in OFFERED if r in pairs])  # each offered once


@pytest.mark.parametrize(
    "crash_at",
    [
        "retention.batch_committed@3",  # between two batches
        "unit.committed@6",  # a batch's rows deleted, its blobs still on disk
        "blob.renamed@1",  # a corpus copy written, nothing naming it yet
    ],
)
def test_a_sweep_killed_mid_run_and_rerun_ends_as_one_clean_run(
    container: Container, settings: Settings, step: Step, crash_at: str
) -> None:
    c = container
    pairs = _world(c)
    assert set(OFFERED) <= set(pairs)
    at = c.clock.now().isoformat()
    assert_killed(step("retention", at, crash_at=crash_at, **ONE_A_BATCH))
    rerun = step("retention", at, **ONE_A_BATCH)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert sum(json.loads(rerun.stdout.splitlines()[-1]).values()) > 0  # it had work left
    again = step("retention", at, **ONE_A_BATCH)
    assert set(json.loads(again.stdout.splitlines()[-1]).values()) == {0}  # nothing more due
    _assert_as_one_clean_run(c, pairs, strays_swept=False)
    # What the kill left on disk (a batch's doomed blobs, a copy no row names) is the stray
    # sweep's, once past its grace age; then every stored blob is one a row names.
    later = ManualClock(c.clock.now() + timedelta(seconds=settings.sweep_grace_s + 60))
    swept = build(settings, clock=later)
    try:
        sweep_strays(swept)
    finally:
        swept.close()
    assert _stored(c) == _named(c)
    _assert_as_one_clean_run(c, pairs)


def test_a_clean_run_offers_each_photo_and_model_once_and_keeps_the_inside_items(
    container: Container, step: Step
) -> None:
    c = container
    pairs = _world(c)
    run = step("retention", c.clock.now().isoformat(), **ONE_A_BATCH)
    assert run.returncode == 0, run.stderr[-2000:]
    removed = json.loads(run.stdout.splitlines()[-1])
    assert {rule: removed[rule] for rule in pairs} == dict.fromkeys(pairs, 1)
    _assert_as_one_clean_run(c, pairs)
    assert _stored(c) == _named(c)
