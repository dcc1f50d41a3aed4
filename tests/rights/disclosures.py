"""Disclosures the way the service makes them: to a processor the policy names.

A test that needs recipients of its own runs under a policy naming them, as an operator's
would: `policy_naming` gives the container a policy with them added for the test's duration.
Disclosures then go through the sharing service, as every disclosure does: it refuses any
recipient the policy does not name, and records what it lets through.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.kernel.purposes import Purpose
from minimaker.policy import LoadedPolicy
from minimaker.policy.model import Dpa, Processor, Treatment
from minimaker.sharing import service as sharing

PRINT_PARTNER = {
    "name": "print-partner",
    "contact": "privacy@print-partner.example.org",
    "purpose": "service",
}
FARM = {"name": "render-farm", "contact": "dpo@render-farm.example.org", "purpose": "service"}


def _processor(entry: dict[str, str]) -> Processor:
    return Processor(
        description=f"{entry['name']} (a test's processor)",
        contact=entry["contact"],
        dpa=Dpa(reference=f"TEST-{entry['name']}", signed="2025-01-01"),
        purposes=[entry["purpose"]],
        # What a print shop or a render farm could be sent for the service it renders.
        categories=["account", "uploaded_image", "generated_model"],
        region="eu-de",
        treatment=Treatment.PERSONAL,
    )


@contextmanager
def policy_naming(c: Container, *processors: dict[str, str]) -> Iterator[None]:
    """The container's policy names `processors` too, until the block ends."""
    before = c.policy_doc
    added = {p["name"]: _processor(p) for p in processors}
    policy = before.policy.model_copy(update={"processors": {**before.policy.processors, **added}})
    c.policy_doc = LoadedPolicy(policy, path=before.path, text=before.text, source=before.source)
    try:
        yield
    finally:
        c.policy_doc = before


@pytest.fixture
def two_processors(container: Container) -> Iterator[tuple[dict[str, str], ...]]:
    """A policy naming two processors, each with a contact for Art. 19 notices."""
    with policy_naming(container, PRINT_PARTNER, FARM):
        yield (PRINT_PARTNER, FARM)


def disclose(
    c: Container,
    subject_id: str,
    recipient: str,
    *,
    categories: Sequence[str] = ("generated_model",),
    purpose: str = "service",
) -> list[object]:
    """Send a copy through the sharing service (recorded in its log); what the processor got."""
    received: list[object] = []
    share = sharing.Share(
        processor=recipient,
        purpose=Purpose(purpose),
        categories=tuple(categories),
        payload={"note": "a copy for the test's processor"},
        subject_id=subject_id,
    )
    sharing.share(c, share, actor=SYSTEM_CLI, send=received.append)
    return received
