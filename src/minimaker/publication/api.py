"""The policy API: the version in force with its history, older versions, acknowledgements."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from minimaker.entrypoints.http import ContainerDep, StrictBody, UserId, authenticate, oauth2
from minimaker.publication import service
from minimaker.publication.service import VERSION_PATTERN
from minimaker.publication.tables import VERSION_LENGTH

router = APIRouter(prefix="/api/v1/privacy/policy", tags=["privacy"])


class VersionOut(BaseModel):
    version: str
    effective: date
    significant: bool
    changes: str
    published_at: datetime


class VersionTextOut(VersionOut):
    current: bool
    text: str
    source: str  # the policy file (YAML) as published


class AcknowledgementOut(BaseModel):
    required: bool  # a significant version was told to you and is not acknowledged yet
    acknowledged_at: datetime | None  # when you acknowledged the version in force


class PolicyOut(BaseModel):
    version: str
    effective: str
    significant: bool
    changes: str
    published_at: datetime | None  # None until the version in force is published
    text: str
    purposes: dict[str, Any]
    categories: dict[str, Any]
    versions: list[VersionOut]  # every published version, newest first
    acknowledgement: AcknowledgementOut | None  # only for a signed-in caller


class AcknowledgeIn(StrictBody):
    version: str = Field(min_length=1, max_length=VERSION_LENGTH)  # the version in force


def caller(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> str | None:
    """The signed-in caller's id, or None without a token; a token given must be live."""
    if not token:
        return None
    return authenticate(request, "user", token)  # type: ignore[no-any-return]


Caller = Annotated[str | None, Depends(caller)]
Version = Annotated[str, Path(max_length=VERSION_LENGTH, pattern=VERSION_PATTERN)]


@router.get("", response_model=PolicyOut)
def privacy_policy(c: ContainerDep, user_id: Caller) -> Any:
    """The policy in force: version, text, purposes and categories, what changed, the history;
    for a signed-in caller, whether an acknowledgement is owed (policy 12)."""
    policy = c.policy
    published = service.current(c)
    state = service.acknowledgement_state(c, user_id=user_id) if user_id else None
    return {
        "version": policy.version,
        "effective": policy.effective.isoformat(),
        "significant": policy.significant,
        "changes": policy.changes,
        "published_at": published.published_at if published else None,
        "text": c.policy_doc.text,
        "purposes": {k: v.model_dump(mode="json") for k, v in policy.purposes.items()},
        "categories": {k: v.model_dump(mode="json") for k, v in policy.categories.items()},
        "versions": [asdict(v) for v in service.list_versions(c)],
        "acknowledgement": asdict(state) if state else None,
    }


@router.get(
    "/versions/{version}",
    response_model=VersionTextOut,
    responses={404: {"description": "No version of that name was published."}},
)
def policy_version(c: ContainerDep, version: Version) -> Any:
    """A published version as it was published: its text and its policy file."""
    found = service.get_version(c, version=version)
    return {**asdict(found), "current": found.version == c.policy.version}


@router.post(
    "/acknowledgements",
    status_code=201,
    response_model=AcknowledgementOut,
    responses={
        404: {"description": "The version in force is not published yet."},
        409: {"description": "That is not the version in force."},
    },
)
def acknowledge(c: ContainerDep, user_id: UserId, body: AcknowledgeIn) -> Any:
    """Acknowledge the version in force, after reading it and what changed."""
    return asdict(service.acknowledge(c, user_id=user_id, version=body.version))
