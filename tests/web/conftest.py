"""A second browser on the same app, for tests about two people or two sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def other_browser(client: TestClient) -> Iterator[TestClient]:
    """Another browser (its own cookie jar) talking to the same app and database."""
    with TestClient(client.app, base_url="https://testserver") as browser:
        yield browser
