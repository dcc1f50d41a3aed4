"""The training corpus (policy 9.2): offer a copy before a photo or model leaves, admit staged
copies in shuffled batches, and the uses that read it (training, marketing with consent).

The offer has two halves (decision 0023): `prepare` anonymises outside any write unit, as
decoding, face detection and a model's re-export would hold SQLite's write lock for seconds,
and `stage`, in the unit that deletes the original, asks the gate again and adds the row.

Nothing here links a copy to its person: the staging row and its blob are new and random, the
only date is a month, no audit entry names a subject, an item or a blob, and a copy reaches the
corpus only in a batch of at least BATCH_MIN, at most one batch a day, under a fresh blob id
written then - so neither a row, a file's time nor the order of rows matches it to a
deletion. The corpus is encrypted under its own key, not the subject's: erasing the subject
destroys their key and leaves the corpus readable, as it no longer is their data.
"""

from __future__ import annotations

import io
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select

from minimaker.adapters.blobs import new_blob_id
from minimaker.corpus import events
from minimaker.corpus.anonymise import Undecodable, anonymise
from minimaker.corpus.tables import CorpusBatch, CorpusItem, StagedCopy
from minimaker.kernel.actors import SYSTEM_WORKER
from minimaker.kernel.container import Container
from minimaker.kernel.errors import IntegrityError, NotFound
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights.processing import allowed

Kind = Literal["photo", "model"]

#: The policy category a copy of each kind is made from.
PHOTO = ("uploaded_image",)
MODEL = ("generated_model",)
#: The key-store secret the corpus is encrypted under (wrapped by the master key, rotated
#: with it); no subject's data key is ever used for a corpus blob.
KEY_NAME = "corpus"
#: A batch mixes at least this many copies: fewer could be told apart by their deleters.
BATCH_MIN = 20
#: And batches are at least this far apart, so a batch's time says no more than its day.
BATCH_EVERY = timedelta(days=1)
#: The most copies one batch moves (one unit of work re-encrypts each of them).
BATCH_MAX = 2000

_shuffle = random.SystemRandom().shuffle


@dataclass(frozen=True)
class CorpusItemRead:
    id: str
    kind: str
    month: str
    marketing_allowed: bool


def corpus_key(c: Container) -> bytes:
    """The corpus's own key (a service secret), never a subject's."""
    return c.secret(KEY_NAME)


@dataclass(frozen=True)
class Prepared:
    """An anonymised copy made by `prepare`, that no row names yet: the unit deleting its
    original stages it (`stage`) or it is thrown away (`discard`). A crash in between leaves
    a blob no row names, which the stray sweep removes after its grace (operations/sweep.py)."""

    subject_id: str
    kind: Kind
    blob_id: str | None  # None: the original could not be read or decoded; nothing written
    made_at: datetime


def prepare(c: Container, *, subject_id: str, kind: Kind, blob_id: str) -> Prepared | None:
    """Policy 9.2's slow half, run OUTSIDE any write unit: decoding, blurring faces and
    re-exporting a model take up to seconds, and under SQLite's write lock every other writer
    would wait for them. Unless the subject objected to training or is restricted, the
    subject's blob anonymised and written under the corpus key; None if no copy is to be made.
    Must not raise on an undecodable blob (`stage` audits it, with counts only)."""
    if kind not in ("photo", "model"):
        return None
    with c.uow(write=False) as uow:
        if not allowed(uow, subject_id, Purpose.TRAINING, PHOTO if kind == "photo" else MODEL):
            return None
    copy = _anonymised(c, subject_id, kind, blob_id)
    if copy is None:
        return Prepared(subject_id, kind, None, c.clock.now())
    staged = c.blobs.put(corpus_key(c), io.BytesIO(copy)).blob_id
    return Prepared(subject_id, kind, staged, c.clock.now())


def wanted(uow: UnitOfWork, subject_id: str, kind: str) -> bool:
    """Whether a copy of the subject's photo or model may be made: not if they objected to
    training or are restricted (policy 9.2, Art. 18, 21). Retention asks it once per subject
    of a batch; `prepare` and `stage` ask the gate again themselves."""
    return allowed(uow, subject_id, Purpose.TRAINING, PHOTO if kind == "photo" else MODEL)


def stage(uow: UnitOfWork, prepared: Prepared | None) -> bool:
    """Policy 9.2's quick half, in the unit that deletes the original (and only for an original
    it does delete): the gate asked again, as an objection or a restriction may have arrived
    since `prepare` (then the copy is discarded), and the copy staged with the marketing
    consent in force; whether it was. A rolled-back deletion takes the copy with it."""
    if prepared is None:
        return False
    if prepared.blob_id is None:
        uow.audit(events.OFFER_UNDECODABLE, actor=SYSTEM_WORKER, object=f"{prepared.kind}s:1")
        return False
    kind, subject_id = prepared.kind, prepared.subject_id
    if not allowed(uow, subject_id, Purpose.TRAINING, PHOTO if kind == "photo" else MODEL) or (
        _stale(uow.c, prepared)
    ):
        discard(uow.c, prepared)
        return False
    uow.wrote_blob(prepared.blob_id)  # gone again if the deletion does not commit
    # The consent in force now travels with the copy: afterwards nobody could ask the person.
    marketing = allowed(uow, subject_id, Purpose.MARKETING, PHOTO if kind == "photo" else MODEL)
    uow.session.add(
        StagedCopy(
            id=uuid.uuid4().hex,
            kind=kind,
            month=_month(uow.c.clock.now()),
            blob_id=prepared.blob_id,
            marketing_allowed=marketing,
        )
    )
    return True


def discard(c: Container, prepared: Prepared | None) -> None:
    """Throw away a prepared copy whose original was not deleted after all (or by another unit,
    which made its own copy): no row names it, so it goes at once."""
    if prepared is not None and prepared.blob_id is not None:
        c.blobs.delete(prepared.blob_id)


def _stale(c: Container, prepared: Prepared) -> bool:
    # The stray sweep takes a blob no row names once it is sweep_grace_s old: a copy staged
    # that late could be named by a row after its blob is gone. Half the grace leaves the
    # deleting unit the other half to commit.
    return c.clock.now() - prepared.made_at > timedelta(seconds=c.settings.sweep_grace_s / 2)


def _anonymised(c: Container, subject_id: str, kind: Kind, blob_id: str) -> bytes | None:
    """The anonymised copy of the subject's blob; None if it cannot be read or decoded."""
    try:
        plain = c.blobs.read_bytes(c.keys.subject_key(subject_id), blob_id)
        return anonymise(kind, plain)
    except (Undecodable, NotFound, IntegrityError):
        # A missing, tampered or unreadable original must not stop the deletion it rides on.
        return None


def _month(now: datetime) -> str:
    return f"{now.year:04d}-{now.month:02d}"


def admit_staged(c: Container) -> int:
    """The periodic duty: staged copies enter the corpus in one shuffled batch, once at least
    BATCH_MIN wait and the last batch is BATCH_EVERY old; how many entered."""
    now = c.clock.now()
    with c.uow() as uow:
        staged = list(uow.session.scalars(select(StagedCopy).with_for_update()))
        last = uow.session.scalar(select(func.max(CorpusBatch.admitted_at)))
        if len(staged) < BATCH_MIN or (last is not None and now - last < BATCH_EVERY):
            return 0
        _shuffle(staged)
        batch = staged[:BATCH_MAX]
        key = corpus_key(c)
        for copy in batch:
            _admit(uow, key, copy)
        uow.session.add(CorpusBatch(admitted_at=now, items=len(batch)))
        uow.audit(events.BATCH_ADMITTED, actor=SYSTEM_WORKER, object=f"items:{len(batch)}")
        uow.commit()
    return len(batch)


def _admit(uow: UnitOfWork, key: bytes, copy: StagedCopy) -> None:
    """One staged copy as a corpus item: a new id, a new blob (a new file time), the old gone."""
    blob_id = new_blob_id()
    uow.wrote_blob(blob_id)
    data = uow.c.blobs.read_bytes(key, copy.blob_id)
    uow.c.blobs.put(key, io.BytesIO(data), blob_id=blob_id)
    uow.session.add(
        CorpusItem(
            id=uuid.uuid4().hex,
            kind=copy.kind,
            month=copy.month,
            blob_id=blob_id,
            marketing_allowed=copy.marketing_allowed,
        )
    )
    uow.delete_blob_after_commit(copy.blob_id)
    uow.session.delete(copy)


def _as_read(row: CorpusItem) -> CorpusItemRead:
    return CorpusItemRead(row.id, row.kind, row.month, row.marketing_allowed)


def training_items(c: Container, *, kind: Kind | None = None) -> list[CorpusItemRead]:
    """The corpus items for training (every admitted item: objectors' never entered)."""
    with c.uow(write=False) as uow:
        query = select(CorpusItem).order_by(CorpusItem.id)
        if kind is not None:
            query = query.where(CorpusItem.kind == kind)
        return [_as_read(r) for r in uow.session.scalars(query)]


def marketing_items(c: Container, limit: int) -> list[CorpusItemRead]:
    """Corpus items whose person had consented to marketing; none if the policy has no such
    purpose. Marketing uses nothing else: never a live photo or model."""
    if Purpose.MARKETING.value not in c.policy.purposes:
        return []
    with c.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(CorpusItem)
            .where(CorpusItem.marketing_allowed.is_(True))
            .order_by(CorpusItem.id)
            .limit(max(0, limit))
        )
        return [_as_read(r) for r in rows]


def read_item(c: Container, item_id: str) -> bytes:
    """An item's anonymised content, decrypted under the corpus key; NotFound if none."""
    with c.uow(write=False) as uow:
        row = uow.session.get(CorpusItem, item_id)
        if row is None:
            raise NotFound("corpus item")
        return c.blobs.read_bytes(corpus_key(c), row.blob_id)
