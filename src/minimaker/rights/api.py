"""Privacy API: preferences (objections) and data-subject requests of the signed-in subject."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from minimaker.entrypoints.http import ContainerDep, UserId
from minimaker.rights import service as rights
from minimaker.rights import subject_rights

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


class Objections(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    training: bool = False
    marketing: bool = False
    analytics: bool = False


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    objections: Objections


class PreferencesOut(Preferences):
    restricted: bool


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=32)
    details: dict[str, Any] | None = None


class EventOut(BaseModel):
    at: Any
    from_status: str | None
    to_status: str
    note: str | None


class RequestOut(BaseModel):
    id: str
    type: str
    status: str
    channel: str
    received_at: Any
    due_at: Any
    original_due_at: Any
    extended_months: int
    extension_reason: str | None
    completed_at: Any
    rejection_reason: str | None
    result_ref: str | None
    events: list[EventOut]


@router.get("/preferences", response_model=PreferencesOut)
def get_preferences(c: ContainerDep, user_id: UserId) -> Any:
    """Your objections per purpose (Art. 21), and whether processing is restricted (Art. 18)."""
    return {
        "objections": subject_rights.get_objections(c, user_id=user_id),
        "restricted": subject_rights.is_restricted(c, user_id=user_id),
    }


@router.put("/preferences", response_model=PreferencesOut)
def put_preferences(c: ContainerDep, user_id: UserId, body: Preferences) -> Any:
    """Object to (true) or allow (false) training, marketing and analytics; effective at once."""
    wanted = {k for k, v in body.objections.model_dump().items() if v}
    objections = subject_rights.set_objections(c, user_id=user_id, objections=wanted)
    return {
        "objections": objections,
        "restricted": subject_rights.is_restricted(c, user_id=user_id),
    }


@router.post("/requests", status_code=202, response_model=RequestOut)
def submit_request(c: ContainerDep, user_id: UserId, body: Annotated[RequestIn, Body()]) -> Any:
    """Make a request: access, portability, rectification, erasure, restriction or objection."""
    return asdict(rights.submit(c, user_id=user_id, type=body.type, details=body.details))


@router.get("/requests", response_model=list[RequestOut])
def list_requests(c: ContainerDep, user_id: UserId) -> Any:
    """Your requests with their status and legal due dates, newest first."""
    return [asdict(r) for r in rights.list_for_subject(c, user_id=user_id)]


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(c: ContainerDep, user_id: UserId, request_id: str) -> Any:
    """One of your requests, with its history."""
    return asdict(rights.get_for_subject(c, user_id=user_id, request_id=request_id))
