"""Previews, drawn on the server: a model as made, and a photo's height field before a model.

Both are the owner's only (someone else's id is not found, as for the content routes), both
are audited as the reads they are, and neither stores anything when asked for. A model's
previews were drawn once, when it was made, and stored encrypted with its files
(model_previews, docs/decisions/0033): they are handed back as stored; a model made before
that has none, and its preview is drawn from its STL per request, as all once were. A
photo's preview is processing for generation (Art. 18/21 apply as they do to generating),
drawn per request at a small grid (PHOTO_GRID) so it stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable

from PIL import Image

from minimaker.generation import events, preview
from minimaker.generation.build import photo_heights
from minimaker.generation.relief import ReliefParams
from minimaker.generation.rules import MODES, PREVIEW_VIEWS, preview_views
from minimaker.generation.service import DONE, owned_model
from minimaker.generation.tables import ModelFile, ModelPreview
from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound, NotReady, ValidationFailed
from minimaker.kernel.purposes import Purpose
from minimaker.rights.processing import ensure_allowed
from minimaker.uploads import service as uploads

#: Views of a stored model: lit from the upper left, or held against a light (lithophanes).
VIEWS: tuple[str, ...] = PREVIEW_VIEWS
#: Grid of a photo's preview (its longer side).
PHOTO_GRID = 256


def photo_preview(c: Container, *, user_id: str, upload_id: str, mode: str) -> bytes:
    """A PNG of the heights the photo would get in `mode` (a lithophane: back-lit)."""
    if mode not in MODES:
        raise ValidationFailed("mode", f"must be one of {', '.join(MODES)}")
    with c.uow() as uow:
        photo = uploads.read_photo(uow, user_id=user_id, upload_id=upload_id)
        purpose = ensure_allowed(uow, user_id, Purpose.GENERATION, ("uploaded_image",))
        uow.audit(
            events.PHOTO_PREVIEW_DRAWN,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"upload:{upload_id}",
            purpose=purpose,
        )
        uow.commit()
    params = ReliefParams(mode=mode, max_resolution=PHOTO_GRID)
    heights, mask = photo_heights(c.settings, photo, params)
    if mode == "lithophane":
        return preview.png(preview.backlit(heights))
    spacing = params.width_mm / max(1, heights.shape[1] - 1)
    return preview.png(_fit(preview.shaded(heights, spacing, mask)))


def model_preview(c: Container, *, user_id: str, model_id: str, view: str) -> bytes:
    """A PNG of the finished model: shaded, or back-lit (lithophanes only); the one stored
    when it was made, or for a model made before previews were stored, drawn now."""
    if view not in VIEWS:
        raise ValidationFailed("view", f"must be one of {', '.join(VIEWS)}")
    with c.uow() as uow:
        row = owned_model(uow, user_id=user_id, model_id=model_id)
        if row.status != DONE:
            raise NotReady("model", row.status)
        mode = str(row.params.get("mode", "relief"))
        if view not in preview_views(mode):
            raise ValidationFailed("view", "only a lithophane has a back-lit view")
        stored = uow.session.get(ModelPreview, (model_id, view))
        source = stored or uow.session.get(ModelFile, (model_id, "stl"))
        if source is None:
            raise NotFound("model file")
        ensure_allowed(uow, user_id, Purpose.SERVICE, ("generated_model",))
        dek = uow.keys.subject_key(user_id)
        uow.audit(
            events.PREVIEW_READ if stored is not None else events.PREVIEW_DRAWN,
            actor=Actor.subject(user_id),
            subject=user_id,
            object=f"model:{model_id}",
        )
        uow.commit()
    if stored is not None:
        return b"".join(c.blobs.iter_plain(dek, stored.blob_id))
    return _drawn(c, dek, source.blob_id, mode, view)


def _drawn(c: Container, dek: bytes, stl_blob_id: str, mode: str, view: str) -> bytes:
    """The view drawn from the stored STL, as before previews were stored (nothing written)."""

    def open_stl() -> Iterable[bytes]:
        return c.blobs.iter_plain(dek, stl_blob_id)

    return preview.draw(view, preview.stl_depth_map(open_stl, preview.camera(mode)))


def _fit(image: Image.Image) -> Image.Image:
    """At most preview.PREVIEW_SIDE on its longer side."""
    scale = preview.PREVIEW_SIDE / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)
