"""Account API: deleting the account, which is an erasure request (Art. 17)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from minimaker.entrypoints.http import ContainerDep, UserId
from minimaker.rights import service as rights
from minimaker.rights.api import RequestOut
from minimaker.rights.rules import RequestType

router = APIRouter(prefix="/api/v1", tags=["account"])


@router.delete("/me", status_code=202, response_model=RequestOut)
def delete_me(c: ContainerDep, user_id: UserId) -> Any:
    """Delete your account and all your data: an erasure request, fulfilled in the background."""
    return asdict(rights.submit(c, user_id=user_id, type=RequestType.ERASURE.value))
