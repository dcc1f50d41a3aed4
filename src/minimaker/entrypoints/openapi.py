"""The OpenAPI document tells the whole truth: every answer an operation can give, its shape,
its media types and its limits.

FastAPI documents what a route declares: its success answer, and a 422 in a shape our error
renderer never produces. The answers that come from the layers around a route (the bearer
check, the lookup by id, the body parser and its size limit, the throttles, the one error
renderer) it cannot see. `complete` adds them to the generated document from facts of each
route, in one pass, so that no feature has to repeat them and none can forget one:

- a security requirement: 401 with its `WWW-Authenticate` challenge; a staff token also 403;
- a password form: 401 (wrong credentials) and 429 (sign-in throttles);
- the client address as a dependency: the route is throttled per address, 429;
- a path parameter: 404 (unknown, or another subject's: existence is never told);
- a request body: 400 (unparsable), 413 (over the route's body limit, stated), 415 (a media
  type the operation does not take), 422;
- every operation: 500 (our side: integrity, a lost key), with the same error body.

What only a feature's service knows (a 409 of a request's state, the upload quota) is in
`FEATURE_ANSWERS`, one table, until each route declares it with `responses=` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.params import Form
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security import OAuth2PasswordRequestForm
from starlette.datastructures import Headers, UploadFile
from starlette.routing import Match
from starlette.types import Scope

from minimaker.entrypoints import errors
from minimaker.entrypoints.http import client_ip_dependency
from minimaker.entrypoints.middleware import BodyRule
from minimaker.generation.export import MEDIA_TYPES as MODEL_MEDIA_TYPES
from minimaker.uploads.intake import ALLOWED as PHOTO_MEDIA_TYPES

ERROR_SCHEMA = "ErrorBody"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
_WHY: Mapping[int, str] = {
    400: "The body could not be parsed: not JSON, not valid multipart or form data.",
    401: "No bearer token, or one that is invalid, expired or of the wrong kind.",
    403: "Not allowed: your role, a restriction or objection (Art. 18, 21), or no proof.",
    404: "No such object of yours (another subject's objects are not found either).",
    409: "The object is not in a state that allows this yet.",
    410: "Gone: expired, already used, or erased.",
    413: "Too large: the body, the file, the image or your storage quota.",
    415: "The body's media type, or the file's content, is not one this operation takes.",
    422: "The request is invalid; `error.problems` or `error.field` says where.",
    429: "Too many requests; try again after `Retry-After` seconds.",
    500: "Something failed on our side; the message says nothing more.",
    503: "Busy; try again after `Retry-After` seconds.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}
_CHALLENGE = {
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with.",
        "required": True,
        "schema": {"type": "string", "const": "Bearer"},
    }
}
_STAFF_SCHEME = "StaffToken"

#: What only a feature's service knows it answers, by operation.
FEATURE_ANSWERS: Mapping[tuple[str, str], frozenset[int]] = {
    ("POST", "/api/v1/auth/signup"): frozenset({409}),
    ("PATCH", "/api/v1/me"): frozenset({409}),
    ("DELETE", "/api/v1/me"): frozenset({403}),
    # Quota, file and pixel limits; the account erased mid-upload; decoding budget busy.
    ("POST", "/api/v1/uploads"): frozenset({410, 413, 503}),
    # Objection or restriction; quota and model size; rate and concurrency of generations.
    ("POST", "/api/v1/uploads/{upload_id}/models"): frozenset({403, 413, 429}),
    ("GET", "/api/v1/models/{model_id}/content"): frozenset({409}),
    ("GET", "/api/v1/privacy/requests/{request_id}/download"): frozenset({403, 409, 410}),
    ("POST", "/api/v1/privacy/requests"): frozenset({403, 409}),
    ("GET", "/api/v1/privacy/verify/{token}"): frozenset({410}),
    ("POST", "/api/v1/privacy/verify/{token}"): frozenset({409, 410}),
    ("POST", "/api/v1/admin/requests/{request_id}/extend"): frozenset({409}),
    ("POST", "/api/v1/admin/requests/{request_id}/reject"): frozenset({409}),
    ("POST", "/api/v1/admin/requests/{request_id}/pause"): frozenset({409}),
    ("POST", "/api/v1/admin/requests/{request_id}/resume"): frozenset({409}),
    ("POST", "/api/v1/admin/staff"): frozenset({409}),
    ("POST", "/api/v1/admin/staff/{staff_id}/disable"): frozenset({409}),
}
#: The media types of routes that stream content rather than return a model.
CONTENT_TYPES: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/api/v1/uploads/{upload_id}/content"): PHOTO_MEDIA_TYPES,
    ("GET", "/api/v1/models/{model_id}/content"): tuple(sorted(set(MODEL_MEDIA_TYPES.values()))),
}


@dataclass(frozen=True)
class BodyLimits:
    """The largest request body a route takes: a file upload, or anything else."""

    upload_bytes: int
    other_bytes: int

    def of(self, route: APIRoute) -> int:
        return self.upload_bytes if takes_file(route) else self.other_bytes


def install(app: FastAPI, limits: BodyLimits) -> None:
    """Make `app.openapi()` return the completed document (built once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate(), app, limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], app: FastAPI, limits: BodyLimits) -> dict[str, Any]:
    """`document` with every operation's real answers, one error shape, media types, limits."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA] = errors.ErrorBody.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components.update(components[ERROR_SCHEMA].pop("$defs", {}))
    for path, route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"][path].get(method.lower())
            if operation is not None:
                _complete_operation(operation, route, method, path, limits)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return document


def _complete_operation(
    operation: dict[str, Any],
    route: APIRoute,
    method: str,
    path: str,
    limits: BodyLimits,
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    # The route's own error answers (`responses=`) take the one error body too.
    own = {int(k) for k in responses if k.isdigit() and int(k) >= 400}
    for status in sorted(answers(route, method, path, operation) | own):
        why = _WHY.get(status, "An error; `error.code` and `error.message` say which.")
        declared = responses.setdefault(str(status), {"description": why})
        declared["content"] = _error_content(route)
        headers = _CHALLENGE if status == 401 else _RETRY_AFTER if status in (429, 503) else {}
        if headers:
            declared["headers"] = headers
    media = CONTENT_TYPES.get((method, path))
    if media is not None:
        success = next(k for k in responses if k.startswith("2"))
        schema = {"type": "string", "contentMediaType": "application/octet-stream"}
        responses[success]["content"] = {m: {"schema": schema} for m in media}
    if "requestBody" in operation:
        limit = limits.of(route)
        operation["requestBody"]["description"] = f"At most {limit} bytes in all."
        operation["requestBody"]["x-max-body-bytes"] = limit


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Each API route of the app (as included, behind its routers' prefixes) with its path."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield str(context.path_format), context.original_route


def answers(route: APIRoute, method: str, path: str, operation: Mapping[str, Any]) -> set[int]:
    """Every error status `route` can answer, from the facts of the route."""
    found = {500} | set(FEATURE_ANSWERS.get((method, path), ()))
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    if schemes:
        found.add(401)
    if _STAFF_SCHEME in schemes:
        found.add(403)  # each role may do only what staff/rules.py allows
    calls = set(_calls(route.dependant))
    if OAuth2PasswordRequestForm in calls:
        found |= {401, 429}
    if client_ip_dependency in calls:  # the throttles count by address
        found.add(429)
    if _fields(route.dependant, "path_params"):
        found.add(404)
    if any(_fields(route.dependant, kind) for kind in ("path_params", "query_params")):
        found.add(422)
    if route.body_field is not None:
        found |= {400, 413, 415, 422}
    return found


def takes_file(route: APIRoute) -> bool:
    """Whether the route's body carries a file (multipart with an UploadFile field)."""
    for field in _fields(route.dependant, "body_params"):
        annotation = field.field_info.annotation
        for candidate in (annotation, *get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, UploadFile):
                return True
    return False


def accepted_media_types(context: RouteContext) -> tuple[str, ...]:
    """The media types the route's body may have: JSON, or the form kinds for form fields."""
    route = context.original_route
    assert isinstance(route, APIRoute)
    if route.body_field is None:
        return ()
    # Form fields (a file is one) come in either form encoding, as FastAPI reads them; a
    # urlencoded body to a file route is read, and then misses its file (422).
    if any(isinstance(f.field_info, Form) for f in _fields(route.dependant, "body_params")):
        return ("application/x-www-form-urlencoded", "multipart/form-data")
    return ("application/json",)


def body_rules(app: FastAPI, limits: BodyLimits) -> Callable[[Scope], BodyRule]:
    """What the body of a request may be (size, media types), by the route it is for.

    Outside the API (pages), a multipart form may carry a photo: the upload limit; the page
    shell bounds its number of files and fields.
    """
    table = [
        (context, BodyRule(limits.of(context.original_route), accepted_media_types(context)))
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and context.original_route.body_field is not None
    ]
    upload_page = BodyRule(limits.upload_bytes)
    other = BodyRule(limits.other_bytes)

    def rule(scope: Scope) -> BodyRule:
        for context, found in table:
            if context.matches(scope)[0] is Match.FULL:
                return found
        if str(scope.get("path", "")).startswith("/api/"):
            return other
        content_type = Headers(scope=scope).get("content-type", "")
        return upload_page if content_type.startswith("multipart/form-data") else other

    return rule


def _error_content(route: APIRoute) -> dict[str, Any]:
    # A route that answers a browser with a page (an emailed link) may answer in HTML.
    pages = [call for call in _calls(route.dependant) if _declares_error_page(call)]
    json = {"application/json": {"schema": _ERROR_REF}}
    html = {"text/html": {"schema": {"type": "string"}}}
    if not pages:
        return json
    # A GET link answers as a page; a form posted to it answers an API client in JSON.
    return html if (route.methods or set()) <= {"GET", "HEAD"} else {**json, **html}


def _declares_error_page(call: Callable[..., Any]) -> bool:
    return getattr(call, "__qualname__", "").startswith("errors_as_page.")


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _fields(dependant: Dependant, kind: str) -> list[Any]:
    found = list(getattr(dependant, kind))
    for sub in dependant.dependencies:
        found += _fields(sub, kind)
    return found
