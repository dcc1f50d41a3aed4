"""What MiniMaker holds about one subject, counted for the subject's own privacy centre."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from minimaker.generation.tables import Model3D, UsageEvent
from minimaker.kernel.container import Container
from minimaker.rights.tables import Archive, RightsRequest
from minimaker.uploads.tables import Upload


@dataclass(frozen=True)
class Holdings:
    """How many of each kind of thing is kept about the subject (Art. 15(1))."""

    photos: int
    models: int
    archives: int
    usage_events: int
    requests: int


def held_about(c: Container, *, user_id: str) -> Holdings:
    """Counts of the subject's photos, models, archives, usage events and requests."""
    counted: list[tuple[Any, Any]] = [
        (Upload.id, Upload.owner_id),
        (Model3D.id, Model3D.owner_id),
        (Archive.id, Archive.subject_id),
        (UsageEvent.id, UsageEvent.subject_id),
        (RightsRequest.id, RightsRequest.subject_id),
    ]
    with c.uow(write=False) as uow:
        counts = [
            int(uow.session.scalar(select(func.count(key)).where(owner == user_id)) or 0)
            for key, owner in counted
        ]
    return Holdings(*counts)
