"""Models API: queue a model of a photo, follow its status, preview, download, delete it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field

from minimaker.entrypoints.http import (
    STORE_ANSWERS,
    ContainerDep,
    StrictBody,
    UserId,
    private_content,
)
from minimaker.generation import previews
from minimaker.generation import service as generation
from minimaker.generation.relief import FLOAT_BOUNDS, INT_BOUNDS

router = APIRouter(prefix="/api/v1", tags=["models"])


def _whole(value: object) -> object:
    """455.0 is the integer 455 in JSON (and in JSON Schema); 455.5 and "455" stay refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _within(bounds: tuple[float, float], unit: str) -> Any:
    low, high = bounds
    return Field(None, ge=low, le=high, description=f"{low:g} to {high:g} {unit}".rstrip())


class ModelIn(StrictBody):
    """What to change from the defaults; each bound keeps the model printable and bounded."""

    width_mm: float | None = _within(FLOAT_BOUNDS["width_mm"], "mm")
    base_mm: float | None = _within(FLOAT_BOUNDS["base_mm"], "mm")
    max_relief_mm: float | None = _within(FLOAT_BOUNDS["max_relief_mm"], "mm")
    max_resolution: Annotated[int | None, BeforeValidator(_whole)] = _within(
        INT_BOUNDS["max_resolution"], "samples"
    )
    lithophane: bool | None = Field(None, description='The older form of mode "lithophane".')
    mode: Literal["relief", "lithophane", "figurine"] | None = Field(
        None,
        description="relief: the subject raised over a flat background; lithophane: for "
        "back light; figurine: the subject's silhouette, inflated, standing on a base.",
    )

    def as_params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ModelOut(BaseModel):
    id: str
    upload_id: str | None
    status: str
    params: dict[str, Any]
    error: str | None
    formats: list[str]
    created_at: datetime
    finished_at: datetime | None


@router.post("/uploads/{upload_id}/models", status_code=202, response_model=ModelOut)
def create_model(
    c: ContainerDep,
    user_id: UserId,
    upload_id: str,
    body: Annotated[ModelIn | None, Body()] = None,
) -> Any:
    """Queue generation of a 3D relief from the photo; poll the model for its status."""
    params = body.as_params() if body else None
    return _model_out(
        generation.request_model(c, user_id=user_id, upload_id=upload_id, params=params)
    )


@router.get("/models", response_model=list[ModelOut])
def list_models(c: ContainerDep, user_id: UserId) -> Any:
    """Your models, newest first."""
    return [_model_out(m) for m in generation.list_models(c, user_id=user_id)]


@router.get("/models/{model_id}", response_model=ModelOut)
def get_model(c: ContainerDep, user_id: UserId, model_id: str) -> Any:
    """One model: status queued, running, done or failed."""
    return _model_out(generation.get_model(c, user_id=user_id, model_id=model_id))


@router.get("/models/{model_id}/content", responses=STORE_ANSWERS)
def model_content(
    c: ContainerDep,
    user_id: UserId,
    model_id: str,
    format: Annotated[Literal["stl", "glb", "obj"], Query()] = "stl",
) -> StreamingResponse:
    """Download the model as STL, GLB or OBJ."""
    media_type, chunks = generation.open_model_content(
        c, user_id=user_id, model_id=model_id, fmt=format
    )
    # Safe in a header: the service accepted the format only as one of its own.
    return private_content(chunks, media_type, filename=f"model-{model_id}.{format}")


@router.delete("/models/{model_id}", status_code=204, responses=STORE_ANSWERS)
def delete_model(c: ContainerDep, user_id: UserId, model_id: str) -> Response:
    """Delete a model and its files."""
    generation.delete_model(c, user_id=user_id, model_id=model_id)
    return Response(status_code=204)


_PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
}


@router.get(
    "/models/{model_id}/preview.png",
    response_class=Response,
    responses={**_PNG, 403: {}, 409: {}, **STORE_ANSWERS},
)
def model_preview(
    c: ContainerDep,
    user_id: UserId,
    model_id: str,
    view: Annotated[Literal["shaded", "backlit"], Query()] = "shaded",
) -> Response:
    """A PNG of the model: shaded, or back-lit as a lithophane against a light."""
    png = previews.model_preview(c, user_id=user_id, model_id=model_id, view=view)
    return _png(png)


@router.get(
    "/uploads/{upload_id}/preview.png",
    response_class=Response,
    responses={**_PNG, 403: {}, 413: {}, **STORE_ANSWERS},
)
def photo_preview(
    c: ContainerDep,
    user_id: UserId,
    upload_id: str,
    mode: Annotated[Literal["relief", "lithophane", "figurine"], Query()] = "relief",
) -> Response:
    """A PNG of the heights the photo would get in a mode, before generating a model."""
    png = previews.photo_preview(c, user_id=user_id, upload_id=upload_id, mode=mode)
    return _png(png)


def _png(data: bytes) -> Response:
    """Personal content, as the content routes are (private_content)."""
    return private_content([data], "image/png", size=len(data))


def _model_out(m: generation.ModelRead) -> dict[str, Any]:
    out = asdict(m)
    out["formats"] = list(m.formats)
    return out
