"""Policy versions: a changed policy file written in tmp_path, and a container serving it on
the same databases, as an operator's new release of the policy would."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from minimaker.bootstrap import build
from minimaker.entrypoints.app import create_app
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.policy.load import SHIPPED
from minimaker.publication import service
from minimaker.settings import Settings
from tests.mailserver import Mailbox, delivering_to

#: A clause the changed text adds, so a test can tell the two texts apart.
NEW_CLAUSE = "12.1. We now also tell you by email before any significant change applies."


def changed_policy(
    folder: Path, *, version: str, significant: bool, changes: str, text_extra: str = NEW_CLAUSE
) -> Path:
    """A copy of the shipped policy and its text in `folder`, with a new version line."""
    folder.mkdir(parents=True, exist_ok=True)
    source = SHIPPED.read_text("utf-8")
    fields = {
        "version": f'"{version}"',
        "significant": "true" if significant else "false",
        "changes": json.dumps(changes),  # a JSON string is a YAML string, quoted
    }
    for key, value in fields.items():
        source, n = re.subn(rf"(?m)^{key}: .*$", f"{key}: {value}", source, count=1)
        assert n == 1, key
    (folder / "policy.yaml").write_text(source, "utf-8")
    text = SHIPPED.with_name("data-protection-policy.txt").read_text("utf-8")
    (folder / "data-protection-policy.txt").write_text(text + "\n" + text_extra + "\n", "utf-8")
    return folder / "policy.yaml"


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The usual test settings, with mail going to the real SMTP server on loopback."""
    return delivering_to(mailbox, settings)


@pytest.fixture
def published(container: Container) -> Container:
    """The shipped policy, published as start-up publishes it."""
    assert service.publish_if_new(container).new
    return container


Reissue = Callable[..., Container]


@pytest.fixture
def reissue(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[Reissue]:
    """Build a container on the same databases serving a changed policy file."""
    built: list[Container] = []

    def make(*, version: str, significant: bool, changes: str, **more: str) -> Container:
        folder = tmp_path / f"policy-{len(built)}"
        path = changed_policy(
            folder, version=version, significant=significant, changes=changes, **more
        )
        clock.advance(seconds=3600)  # a new release comes later than the last one
        c = build(settings.model_copy(update={"policy_file": path}), clock=clock)
        built.append(c)
        return c

    yield make
    for c in built:
        c.close()


def browser_for(c: Container) -> TestClient:
    """A browser on the app of container `c` (its own cookie jar)."""
    return TestClient(create_app(c, worker=False), base_url="https://testserver")
