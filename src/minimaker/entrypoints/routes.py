"""The v1 HTTP API. Routes parse input, call one service, and format its answer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from fastapi.security import OAuth2PasswordRequestForm

from minimaker.accounts import service as accounts
from minimaker.entrypoints import schemas
from minimaker.entrypoints.http import ContainerDep, Token, UserId, client_ip
from minimaker.generation import service as generation
from minimaker.kernel.errors import PayloadTooLarge
from minimaker.policy import load_policy, policy_text
from minimaker.uploads import service as uploads

router = APIRouter(prefix="/api/v1")


@router.post("/auth/signup", status_code=201, response_model=schemas.SignupOut, tags=["auth"])
def signup(c: ContainerDep, body: schemas.SignupIn) -> schemas.SignupOut:
    """Create an account: name, email, username and password, nothing more."""
    profile = accounts.signup(c, **body.model_dump())
    return schemas.SignupOut(id=profile.id, username=profile.username)


@router.post("/auth/token", response_model=schemas.TokenOut, tags=["auth"])
def token(
    c: ContainerDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    ip: Annotated[str, Depends(client_ip)],
) -> schemas.TokenOut:
    """Sign in with username (or email) and password; returns a bearer token."""
    issued = accounts.login(c, login=form.username, password=form.password, client_ip=ip)
    return schemas.TokenOut(access_token=issued.token, expires_at=issued.expires_at)


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(c: ContainerDep, user_id: UserId, tok: Token) -> Response:
    """End the session of this bearer token."""
    accounts.logout(c, user_id=user_id, token=tok)
    return Response(status_code=204)


@router.get("/me", response_model=schemas.ProfileOut, tags=["account"])
def me(c: ContainerDep, user_id: UserId) -> Any:
    """Your profile."""
    return asdict(accounts.get_profile(c, user_id=user_id))


@router.patch("/me", response_model=schemas.ProfileOut, tags=["account"])
def correct_me(c: ContainerDep, user_id: UserId, body: schemas.ProfilePatch) -> Any:
    """Correct your name, email or username (Art. 16)."""
    return asdict(accounts.correct_profile(c, user_id=user_id, **body.model_dump()))


@router.post("/uploads", status_code=201, response_model=schemas.UploadOut, tags=["uploads"])
async def create_upload(
    c: ContainerDep, user_id: UserId, file: Annotated[UploadFile, File()]
) -> Any:
    """Upload a JPEG, PNG or WebP photo (recognised by content); stored encrypted."""
    limit = c.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(limit)
    from starlette.concurrency import run_in_threadpool

    return asdict(await run_in_threadpool(uploads.create_upload, c, user_id=user_id, data=data))


@router.get("/uploads", response_model=list[schemas.UploadOut], tags=["uploads"])
def list_uploads(c: ContainerDep, user_id: UserId) -> Any:
    """Your photos, newest first."""
    return [asdict(u) for u in uploads.list_uploads(c, user_id=user_id)]


@router.get("/uploads/{upload_id}", response_model=schemas.UploadOut, tags=["uploads"])
def get_upload(c: ContainerDep, user_id: UserId, upload_id: str) -> Any:
    """One of your photos."""
    return asdict(uploads.get_upload(c, user_id=user_id, upload_id=upload_id))


@router.get("/uploads/{upload_id}/content", tags=["uploads"])
def upload_content(c: ContainerDep, user_id: UserId, upload_id: str) -> StreamingResponse:
    """The photo as uploaded, decrypted."""
    media_type, chunks = uploads.open_content(c, user_id=user_id, upload_id=upload_id)
    return StreamingResponse(chunks, media_type=media_type, headers=_private())


@router.delete("/uploads/{upload_id}", status_code=204, tags=["uploads"])
def delete_upload(c: ContainerDep, user_id: UserId, upload_id: str) -> Response:
    """Delete one of your photos (models made from it stay)."""
    uploads.delete_upload(c, user_id=user_id, upload_id=upload_id)
    return Response(status_code=204)


@router.post(
    "/uploads/{upload_id}/models", status_code=202, response_model=schemas.ModelOut, tags=["models"]
)
def create_model(
    c: ContainerDep,
    user_id: UserId,
    upload_id: str,
    body: Annotated[schemas.ModelIn | None, Body()] = None,
) -> Any:
    """Queue generation of a 3D relief from the photo; poll the model for its status."""
    params = body.as_params() if body else None
    return _model_out(
        generation.request_model(c, user_id=user_id, upload_id=upload_id, params=params)
    )


@router.get("/models", response_model=list[schemas.ModelOut], tags=["models"])
def list_models(c: ContainerDep, user_id: UserId) -> Any:
    """Your models, newest first."""
    return [_model_out(m) for m in generation.list_models(c, user_id=user_id)]


@router.get("/models/{model_id}", response_model=schemas.ModelOut, tags=["models"])
def get_model(c: ContainerDep, user_id: UserId, model_id: str) -> Any:
    """One model: status queued, running, done or failed."""
    return _model_out(generation.get_model(c, user_id=user_id, model_id=model_id))


@router.get("/models/{model_id}/content", tags=["models"])
def model_content(
    c: ContainerDep,
    user_id: UserId,
    model_id: str,
    format: Annotated[str, Query(max_length=8)] = "stl",
) -> StreamingResponse:
    """Download the model as STL, GLB or OBJ."""
    media_type, chunks = generation.open_model_content(
        c, user_id=user_id, model_id=model_id, fmt=format
    )
    headers = _private()
    headers["Content-Disposition"] = f'attachment; filename="model-{model_id}.{format}"'
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


@router.delete("/models/{model_id}", status_code=204, tags=["models"])
def delete_model(c: ContainerDep, user_id: UserId, model_id: str) -> Response:
    """Delete a model and its files."""
    generation.delete_model(c, user_id=user_id, model_id=model_id)
    return Response(status_code=204)


@router.get("/privacy/policy", response_model=schemas.PolicyOut, tags=["privacy"])
def privacy_policy(request: Request) -> Any:
    """The policy in force: its version, its text, and the purposes and categories it names."""
    policy = load_policy()
    return {
        "version": policy.version,
        "effective": policy.effective,
        "text": policy_text(),
        "purposes": {k: v.model_dump() for k, v in policy.purposes.items()},
        "categories": {k: v.model_dump() for k, v in policy.categories.items()},
    }


def _model_out(m: generation.ModelRead) -> dict[str, Any]:
    out = asdict(m)
    out["formats"] = list(m.formats)
    return out


def _private() -> dict[str, str]:
    # Personal content must not sit in shared caches or be sniffed into another type.
    return {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
