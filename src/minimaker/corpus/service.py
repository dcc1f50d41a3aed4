"""The training corpus (policy 9.2): offer a copy before a photo or model leaves, admit staged
copies in shuffled batches, and the uses that read it (training, marketing with consent).

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


def offer(uow: UnitOfWork, *, subject_id: str, kind: Kind, blob_id: str) -> bool:
    """Called in the unit that is about to delete a subject's photo or model (by retention or by
    the user's own delete), before the blob is deleted. Unless the subject objected to training
    or is restricted (rights.processing.allowed(uow, subject_id, Purpose.TRAINING, (category,))),
    an anonymised copy is staged for the corpus; returns whether it was. Must not raise on an
    undecodable blob (returns False, audited with counts only)."""
    if kind not in ("photo", "model"):
        return False
    if not allowed(uow, subject_id, Purpose.TRAINING, PHOTO if kind == "photo" else MODEL):
        return False
    # The consent in force now travels with the copy: afterwards nobody could ask the person.
    marketing = allowed(uow, subject_id, Purpose.MARKETING, PHOTO if kind == "photo" else MODEL)
    copy = _anonymised(uow, subject_id, kind, blob_id)
    if copy is None:
        uow.audit(events.OFFER_UNDECODABLE, actor=SYSTEM_WORKER, object=f"{kind}s:1")
        return False
    staged = new_blob_id()
    uow.wrote_blob(staged)  # gone again if the deletion does not commit
    uow.c.blobs.put(corpus_key(uow.c), io.BytesIO(copy), blob_id=staged)
    uow.session.add(
        StagedCopy(
            id=uuid.uuid4().hex,
            kind=kind,
            month=_month(uow.c.clock.now()),
            blob_id=staged,
            marketing_allowed=marketing,
        )
    )
    return True


def _anonymised(uow: UnitOfWork, subject_id: str, kind: Kind, blob_id: str) -> bytes | None:
    """The anonymised copy of the subject's blob; None if it cannot be read or decoded."""
    try:
        plain = uow.c.blobs.read_bytes(uow.keys.subject_key(subject_id), blob_id)
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
