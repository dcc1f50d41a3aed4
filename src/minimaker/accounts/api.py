"""Accounts API: sign up, sign in for a bearer token, sign out, read and correct the profile."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from minimaker.accounts import rules
from minimaker.accounts import service as accounts
from minimaker.entrypoints.http import (
    ClientIp,
    ContainerDep,
    DeviceCookie,
    PasswordForm,
    StrictBody,
    Token,
    TokenOut,
    UserId,
    set_device_cookie,
    stated,
)
from minimaker.rights import rectification

router = APIRouter(prefix="/api/v1")


class SignupIn(StrictBody):
    name: str = stated(rules.NAME_PATTERN, rules.MAX_NAME)
    email: str = stated(rules.EMAIL_PATTERN, rules.MAX_EMAIL)
    username: str = stated(rules.USERNAME_PATTERN, 32, min_length=3)
    password: str = stated(None, rules.MAX_PASSWORD, min_length=rules.MIN_PASSWORD)


class SignupOut(BaseModel):
    id: str
    username: str


class ProfileOut(BaseModel):
    id: str
    name: str
    email: str
    username: str
    created_at: datetime


class ProfilePatch(StrictBody):
    name: str | None = stated(rules.NAME_PATTERN, rules.MAX_NAME, optional=True)
    email: str | None = stated(rules.EMAIL_PATTERN, rules.MAX_EMAIL, optional=True)
    username: str | None = stated(rules.USERNAME_PATTERN, 32, min_length=3, optional=True)


@router.post("/auth/signup", status_code=201, response_model=SignupOut, tags=["auth"])
def signup(c: ContainerDep, body: SignupIn, ip: ClientIp) -> SignupOut:
    """Create an account: name, email, username and password, nothing more.

    Limited per address (429 with Retry-After): each sign-up costs a memory-hard hash.
    """
    profile = accounts.signup(c, **body.model_dump(), client_ip=ip)
    return SignupOut(id=profile.id, username=profile.username)


@router.post("/auth/token", response_model=TokenOut, tags=["auth"])
def token(
    c: ContainerDep, form: PasswordForm, ip: ClientIp, devices: DeviceCookie, response: Response
) -> TokenOut:
    """Sign in with username (or email) and password; returns a bearer token.

    Also sets the device cookie `mm_device`: a client that keeps it (as browsers and most
    HTTP libraries do) is let through later while others' failures throttle its address or
    this account.
    """
    issued = accounts.login(
        c, login=form.username, password=form.password, client_ip=ip, devices=devices
    )
    if issued.devices is not None:
        set_device_cookie(response, issued.devices, c.settings)
    return TokenOut.of(issued)


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(c: ContainerDep, user_id: UserId, tok: Token) -> Response:
    """End the session of this bearer token."""
    accounts.logout(c, user_id=user_id, token=tok)
    return Response(status_code=204)


@router.get("/me", response_model=ProfileOut, tags=["account"])
async def me(c: ContainerDep, tok: Token) -> Response:
    """Your profile."""
    # The token is checked inside the same read that fetches the profile (one round trip).
    # One trip to the thread pool for the read, and the answer serialised here, in the shape
    # the schema states: FastAPI would otherwise take a second trip to validate it again.
    profile = await run_in_threadpool(accounts.own_profile, c, token=tok)
    body = ProfileOut.model_construct(**asdict(profile)).model_dump_json()
    return Response(body, media_type="application/json")


@router.patch("/me", response_model=ProfileOut, tags=["account"])
def correct_me(c: ContainerDep, user_id: UserId, body: ProfilePatch) -> Any:
    """Correct your name, email or username (Art. 16); recipients of a copy are told (Art. 19)."""
    # The one correction use case of every path, so this one tells recipients too.
    return asdict(rectification.correct(c, user_id=user_id, **body.model_dump()))
