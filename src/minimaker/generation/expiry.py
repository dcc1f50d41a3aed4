"""The retention mechanics of models and usage events, and when a photo was last used
(its last model, which only generation knows: uploads/expiry.py asks `last_model_made`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from minimaker.generation import model_blobs, usage
from minimaker.generation.tables import Model3D, ModelFile, UsageEvent
from minimaker.kernel.retention import Expiry
from minimaker.retention.declare import delete_rows, table_expiry

_FINISHED = ("done", "failed")
#: The file offered to the corpus for a model: its first format (glb before obj and stl).
_MODEL_BLOB = (
    select(ModelFile.blob_id)
    .where(ModelFile.model_id == Model3D.id)
    .order_by(ModelFile.format)
    .limit(1)
    .scalar_subquery()
)
_delete_model_rows = delete_rows(Model3D, Model3D.id)


def _remove_models(uow: Any, keys: Sequence[Any]) -> int:
    # The files' and previews' rows go with the model (ON DELETE CASCADE); their blobs
    # after the commit.
    for blob_id in model_blobs.blob_ids(uow, keys):
        uow.delete_blob_after_commit(blob_id)
    return _delete_model_rows(uow, keys)


def last_model_made(upload_id: Any) -> Any:
    """When the last model of the upload `upload_id` (a column) was made; NULL if none was."""
    return (
        select(func.max(Model3D.created_at)).where(Model3D.upload_id == upload_id).scalar_subquery()
    )


def expiries() -> tuple[Expiry, ...]:
    """Models 24 months after last download (or creation), usage events after 90 days."""
    return (
        table_expiry(
            rule="models",
            category="generated_model",
            what="models",
            table=Model3D,
            key=Model3D.id,
            anchor=func.coalesce(Model3D.last_used_at, Model3D.created_at),
            seek=Model3D.created_at,  # never after its last use
            subject=Model3D.owner_id,
            blob=_MODEL_BLOB,
            where=(Model3D.status.in_(_FINISHED),),
            remove=_remove_models,
            offered_as="model",
        ),
        table_expiry(
            rule="usage_events",
            category="usage_event",
            what="usage events",
            table=UsageEvent,
            key=UsageEvent.id,
            anchor=UsageEvent.at,
            # Pseudonyms: `holders` names only held subjects; `remove` destroys spent day keys.
            subject=UsageEvent.pseudonym,
            post_filter=usage.holders,
            remove=usage.remove,
        ),
    )
