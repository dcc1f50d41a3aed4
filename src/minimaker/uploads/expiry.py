"""The retention mechanics of photos: 30 days after the last model made from them."""

from __future__ import annotations

from sqlalchemy import func

from minimaker.generation.expiry import last_model_made
from minimaker.kernel.retention import Expiry
from minimaker.retention.declare import table_expiry
from minimaker.uploads.tables import Upload


def expiries() -> tuple[Expiry, ...]:
    """Photos, from their last model (or their upload if none was made); offered to the corpus."""
    return (
        table_expiry(
            rule="photos",
            category="uploaded_image",
            what="photos",
            table=Upload,
            key=Upload.id,
            anchor=func.coalesce(last_model_made(Upload.id), Upload.created_at),
            seek=Upload.created_at,  # a photo's models are made after it
            subject=Upload.owner_id,
            blob=Upload.blob_id,
            offered_as="photo",
        ),
    )
