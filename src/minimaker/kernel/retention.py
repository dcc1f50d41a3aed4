"""Retention mechanics, declared by the feature that owns each table (bootstrap gathers them).

The policy file says *when* (each category's `rules:`, policy/model.py); an `Expiry` says
*how*: which rows a rule finds past its cutoff, whose they are, and how they go. The engine
(retention/service.py) joins the two by (category, rule) and refuses at start-up a policy rule
without mechanics or mechanics without a policy rule, so neither can drift from the other.

Pure: the unit of work and the rows' keys are opaque (`Any`); each feature's `expiry.py` gives
them meaning (most through retention/declare.py's `table_expiry`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Found:
    """One expired item: its key, its subject (None when it names no one) and its blob."""

    key: Any
    subject: str | None
    anchor: datetime | None = None  # the moment the rule counts from
    blob_id: str | None = None


@dataclass(frozen=True)
class Batch:
    """What one `find` scanned: the expired items, and the key to scan on from (None: done)."""

    found: Sequence[Found]
    resume_after: Any = None


#: (uow, cutoff, limit, after) -> Batch: at most `limit` items past `cutoff`, after `after`
#: (an opaque resume point the finder returned; None: from the start), locked SKIP LOCKED.
Finder = Callable[[Any, datetime, int, Any], Batch]
#: (uow, keys) -> how many were removed, in the caller's unit of work.
Remover = Callable[[Any, Sequence[Any]], int]


@dataclass(frozen=True)
class Offer:
    """What each photo or model is offered to before it is removed (the corpus, policy 9.2), in
    two steps so that the slow one holds no write lock: `prepare(c, *, subject_id, kind,
    blob_id)` runs before the batch's write unit and makes a copy (or None); `stage(uow, copy)`
    runs in that unit for each item it removes and says whether the copy was kept;
    `discard(c, copy)` throws away the copy of an item the unit did not remove."""

    prepare: Callable[..., Any]
    stage: Callable[[Any, Any], bool]
    discard: Callable[[Any, Any], None]
    #: (uow, subject_id, kind) -> whether a copy is wanted at all: asked once per subject in
    #: the batch's read unit, so a batch of one who objected costs one question, not one each.
    wanted: Callable[[Any, str, str], bool] | None = None


#: The shortest duration a rule may have, from the settings (a throttle's window).
Floor = Callable[[Any], timedelta]


@dataclass(frozen=True)
class Expiry:
    """The mechanics of one policy rule: `category`'s rule `rule`."""

    rule: str
    category: str
    find: Finder
    remove: Remover
    what: str  # the noun of the report: "photos", "sessions"
    #: "photo" or "model": each item is offered to `offer` before it goes.
    offered_as: str | None = None
    offer: Offer | None = None
    floor: Floor | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.category, self.rule)
