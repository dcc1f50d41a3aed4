"""A real analytics provider on loopback: it records each JSON body POSTed to it (the
`provider` fixture of tests/analytics and tests/sharing)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest


@dataclass
class Provider:
    """Where it listens, what it received, and the status it answers with."""

    url: str = ""
    got: list[Any] = field(default_factory=list)
    status: int = 204


@pytest.fixture
def provider() -> Iterator[Provider]:
    found = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            found.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(found.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_port}/ingest"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
