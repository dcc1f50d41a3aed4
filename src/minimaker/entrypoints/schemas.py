"""Request and response bodies of the public v1 contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=2048)


class SignupIn(_In):
    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    username: str = Field(max_length=32)
    password: str = Field(max_length=1024)


class SignupOut(BaseModel):
    id: str
    username: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: datetime


class ProfileOut(BaseModel):
    id: str
    name: str
    email: str
    username: str
    created_at: datetime


class ProfilePatch(_In):
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    username: str | None = Field(None, max_length=32)


class UploadOut(BaseModel):
    id: str
    media_type: str
    size_bytes: int
    width: int
    height: int
    created_at: datetime


class ModelIn(_In):
    width_mm: float | None = None
    base_mm: float | None = None
    max_relief_mm: float | None = None
    max_resolution: int | None = None
    lithophane: bool | None = None

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


class PolicyOut(BaseModel):
    version: str
    effective: str
    text: str
    purposes: dict[str, Any]
    categories: dict[str, Any]
