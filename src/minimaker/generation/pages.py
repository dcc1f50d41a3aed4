"""The signed-in workspace at /app: photos, model generation, status and downloads."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from minimaker.accounts import service as accounts
from minimaker.entrypoints.http import ContainerDep, private_content
from minimaker.entrypoints.page_shell.failures import friendly_failure
from minimaker.entrypoints.page_shell.render import (
    LABELS,
    NO_STORE,
    fragment,
    render,
    see_other,
    sentence,
)
from minimaker.entrypoints.page_shell.session import (
    CheckedForm,
    UserId,
    Visitor,
    VisitorDep,
    text_field,
)
from minimaker.generation import previews
from minimaker.generation import service as generation
from minimaker.generation.relief import ReliefParams
from minimaker.kernel.errors import (
    InvalidImage,
    ModelTooLarge,
    PayloadTooLarge,
    ProcessingRefused,
    QuotaExceeded,
    TooManyAttempts,
    UnsupportedMediaType,
    ValidationFailed,
)
from minimaker.uploads import service as uploads

router = APIRouter(prefix="/app", include_in_schema=False)

_UPLOAD_ERRORS = (
    ValidationFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    InvalidImage,
    QuotaExceeded,
    ProcessingRefused,  # restricted, or an objection
    TooManyAttempts,  # the decode budget busy (503)
)
#: What the generate form shows beside itself: bad settings and every limit (policy 3.6).
_GENERATE_ERRORS = (
    ValidationFailed,
    ModelTooLarge,
    QuotaExceeded,
    ProcessingRefused,
    TooManyAttempts,
)
_NUMBER_FIELDS = ("width_mm", "base_mm", "max_relief_mm")
#: Megabytes as the refusals count them (page_shell/failures.py), so hint and refusal agree.
_MB = 1_000_000
_DEFAULTS: dict[str, Any] = {
    **{name: f"{getattr(ReliefParams(), name):g}" for name in _NUMBER_FIELDS},
    "mode": ReliefParams().mode,
}
#: The kinds of model the form offers, with what each is, in plain words.
MODES = (
    ("relief", "Relief", "The subject raised over a flattened background, like a carved plaque."),
    (
        "lithophane",
        "Lithophane",
        "Thicker where the photo is dark, for prints light shines through.",
    ),
    (
        "figurine",
        "Figurine",
        "The subject cut out along its outline: a rounded miniature on a base.",
    ),
)


#: Why the workspace is shown, by a fixed flag in the URL (never a name or an address).
_NOTICES = {"1": "Your account is ready, and you are signed in. Upload a photo to start."}


@router.get("")
def workspace(v: VisitorDep, user_id: UserId, welcome: str | None = None) -> Response:
    """Your photos, the models made from them, and the forms to add more."""
    return _workspace(v, user_id, notice=_NOTICES.get(welcome or ""))


@router.get("/status.json")
def model_statuses(v: VisitorDep, user_id: UserId) -> Response:
    """Your models' statuses, each with its card as the page shows it: app.js polls this and
    puts a changed card in place, so the page never reloads over what is being typed."""
    models = generation.list_models(v.c, user_id=user_id)
    body = {
        "models": [
            {
                "id": m.id,
                "status": m.status,
                "card": fragment("_model_card.html", "model_item", model=m),
            }
            for m in models
        ]
    }
    return JSONResponse(body, headers=NO_STORE)


def _workspace(
    v: Visitor,
    user_id: str,
    *,
    status: int = 200,
    notice: str | None = None,
    upload_error: dict[str, Any] | None = None,
    generate_error: dict[str, Any] | None = None,
) -> Response:
    photos = uploads.list_uploads(v.c, user_id=user_id)
    models = generation.list_models(v.c, user_id=user_id)
    profile = accounts.get_profile(v.c, user_id=user_id)
    photo_ids = {p.id for p in photos}
    by_photo: dict[str, list[generation.ModelRead]] = defaultdict(list)
    orphans = []
    for model in models:
        if model.upload_id is not None and model.upload_id in photo_ids:
            by_photo[model.upload_id].append(model)
        else:
            orphans.append(model)
    return render(
        v,
        "app.html",
        title="Your photos and models",
        status=status,
        notice=notice,
        username=profile.username,
        photos=photos,
        models_by_photo=by_photo,
        orphans=orphans,
        defaults=_DEFAULTS,
        max_upload_mb=f"{v.c.settings.max_upload_bytes / _MB:.3g}",
        max_upload_bytes=v.c.settings.max_upload_bytes,
        too_large=friendly_failure(PayloadTooLarge(v.c.settings.max_upload_bytes))["error"],
        upload_error=upload_error,
        generate_error=generate_error,
        modes=MODES,
    )


@router.post("/uploads")
def upload_photo(request: Request, form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Upload a photo; the same limits and checks as the API, nothing kept on failure.

    The form posted by upload.js asks for JSON: the new photo's card to put in place, or the
    refusal in the words the page would show, so nothing else typed on the page is lost."""
    script = "application/json" in request.headers.get("accept", "")
    try:
        data = _read_file(form.get("file"), v.c.settings.max_upload_bytes)
        photo = uploads.create_upload(v.c, user_id=user_id, data=data)
    except _UPLOAD_ERRORS as exc:
        failure = friendly_failure(exc)
        if script:
            return _upload_refused(exc.status, exc.code, failure)
        return _workspace(v, user_id, status=exc.status, upload_error=failure)
    if not script:
        return see_other("/app")
    card = fragment(
        "_photo_card.html",
        "photo_card",
        photo=photo,
        models=[],
        csrf=v.form_token(),
        modes=MODES,
        defaults=_DEFAULTS,
    )
    return JSONResponse({"id": photo.id, "card": card}, 201, headers=NO_STORE)


def _upload_refused(status: int, code: str, failure: dict[str, Any]) -> Response:
    """A refused upload as upload.js shows it beside the field: the page's sentence and link."""
    error = {"code": code, "message": sentence(failure["error"]), "field": "file"}
    return JSONResponse({"error": {**error, "link": failure["link"]}}, status, headers=NO_STORE)


def _read_file(file: UploadFile | str | None, limit: int) -> bytes:
    if not isinstance(file, UploadFile):
        raise ValidationFailed("file", "is required: choose a photo to upload")
    # One byte past the limit is enough to know the file is too large.
    data = file.file.read(limit + 1)
    if not data:
        raise ValidationFailed("file", "is required: choose a photo to upload")
    if len(data) > limit:
        raise PayloadTooLarge(limit)
    return data


@router.post("/uploads/{upload_id}/models")
def generate_model(upload_id: str, form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Queue a model of one of your photos with the chosen relief settings."""
    # Ownership first: another user's photo answers "not found" whatever the settings say.
    uploads.get_upload(v.c, user_id=user_id, upload_id=upload_id)
    typed: dict[str, Any] = {name: text_field(form, name) for name in _NUMBER_FIELDS}
    # `lithophane=on` is the form of earlier versions (and of scripts written against it).
    legacy = "lithophane" if form.get("lithophane") is not None else "relief"
    typed["mode"] = text_field(form, "mode") or legacy
    try:
        params = _relief_params(typed)
        generation.request_model(v.c, user_id=user_id, upload_id=upload_id, params=params)
    except _GENERATE_ERRORS as exc:
        failure = {"upload_id": upload_id, "typed": typed, **friendly_failure(exc)}
        if isinstance(exc, _NotNumbers):
            failure.update(error="; ".join(exc.wrong.values()), field_errors=exc.wrong)
        return _workspace(v, user_id, status=exc.status, generate_error=failure)
    return see_other("/app")


def _relief_params(typed: dict[str, Any]) -> dict[str, Any]:
    """The typed settings as numbers; every field that is not one is marked at once."""
    params: dict[str, Any] = {"mode": typed["mode"]}
    wrong: dict[str, str] = {}
    for name in _NUMBER_FIELDS:
        try:
            params[name] = float(typed[name].strip())
        except ValueError:
            wrong[name] = f"{LABELS[name]} must be a number"
    if wrong:
        raise _NotNumbers(wrong)
    return params


class _NotNumbers(ValidationFailed):
    """Settings that are not numbers, each one to be marked beside its field."""

    def __init__(self, wrong: dict[str, str]) -> None:
        super().__init__(next(iter(wrong)), "must be a number")
        self.wrong = wrong


@router.get("/uploads/{upload_id}/delete")
def confirm_photo_deletion(v: VisitorDep, user_id: UserId, upload_id: str) -> Response:
    """The step before a photo is deleted: what goes, what stays, and the button that does it."""
    photo = uploads.get_upload(v.c, user_id=user_id, upload_id=upload_id)
    return render(v, "app_delete.html", title="Delete this photo?", photo=photo, model=None)


@router.get("/models/{model_id}/delete")
def confirm_model_deletion(v: VisitorDep, user_id: UserId, model_id: str) -> Response:
    """The step before a model is deleted, away from its downloads."""
    model = generation.get_model(v.c, user_id=user_id, model_id=model_id)
    return render(v, "app_delete.html", title="Delete this model?", photo=None, model=model)


@router.post("/uploads/{upload_id}/delete")
def delete_photo(upload_id: str, form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Delete one of your photos; models already made from it stay."""
    uploads.delete_upload(v.c, user_id=user_id, upload_id=upload_id)
    return see_other("/app")


@router.post("/models/{model_id}/delete")
def delete_model(model_id: str, form: CheckedForm, v: VisitorDep, user_id: UserId) -> Response:
    """Delete a model and its files."""
    generation.delete_model(v.c, user_id=user_id, model_id=model_id)
    return see_other("/app")


@router.get("/uploads/{upload_id}/content")
def photo_content(upload_id: str, c: ContainerDep, user_id: UserId) -> Response:
    """One of your photos, decrypted, for its thumbnail."""
    media_type, chunks = uploads.open_content(c, user_id=user_id, upload_id=upload_id)
    return private_content(chunks, media_type)


@router.get("/models/{model_id}/download")
def download_model(
    model_id: str,
    c: ContainerDep,
    user_id: UserId,
    fmt: Annotated[str, Query(alias="format", max_length=8)] = "stl",
) -> Response:
    """A finished model as an STL, GLB or OBJ attachment."""
    media_type, chunks = generation.open_model_content(
        c, user_id=user_id, model_id=model_id, fmt=fmt
    )
    # Safe in a header: the service accepted fmt only as one of its formats, and model_id
    # only as an id of this user's model.
    return private_content(chunks, media_type, filename=f"model-{model_id}.{fmt}")


@router.get("/models/{model_id}/preview.png")
def model_preview(
    model_id: str,
    c: ContainerDep,
    user_id: UserId,
    view: Annotated[str, Query(max_length=8)] = "shaded",
) -> Response:
    """A PNG of one of your finished models: shaded, or back-lit for a lithophane."""
    png = previews.model_preview(c, user_id=user_id, model_id=model_id, view=view)
    return private_content([png], "image/png", size=len(png))


@router.get("/uploads/{upload_id}/preview.png")
def photo_preview(
    upload_id: str,
    c: ContainerDep,
    user_id: UserId,
    mode: Annotated[str, Query(max_length=12)] = "relief",
) -> Response:
    """The heights one of your photos would get in a mode, as a PNG, before generating."""
    png = previews.photo_preview(c, user_id=user_id, upload_id=upload_id, mode=mode)
    return private_content([png], "image/png", size=len(png))
