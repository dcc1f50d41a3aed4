"""ASGI middleware that refuses oversized bodies before they are read into memory or disk."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Too large</title>"
    '<link rel=stylesheet href="/static/site.css"></head><body><main><h1>Too large</h1>'
    '<p>{message}.</p><p><a href="/app">Back</a></p></main></body></html>'
)


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """413 for any request body over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        html = not scope.get("path", "").startswith("/api/")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _reply_413(send, self.limit, html=html)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reply_413(send, self.limit, html=html)


async def _reply_413(send: Send, limit: int, *, html: bool) -> None:
    message = f"the request body exceeds the limit of {limit} bytes"
    if html:
        # Pages get a page, not JSON: a browser shows this to a person.
        body = _PAGE.format(message=message).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": {"code": "payload_too_large", "message": message}}).encode()
        content_type = b"application/json"
    headers: list[Any] = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
