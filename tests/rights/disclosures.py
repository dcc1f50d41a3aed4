"""Disclosures the way the service makes them: to a processor the policy names.

The shipped policy names no processor (MiniMaker discloses nothing today), so a test that needs
a recipient runs under a policy naming one, as an operator's would: `policy_naming` adds it to
the loaded policy for the test's duration. Disclosures then go through `record_disclosure`,
which refuses any recipient the policy does not name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from minimaker.kernel.container import Container
from minimaker.policy import load_policy
from minimaker.rights import recipients

PRINT_PARTNER = {
    "name": "print-partner",
    "contact": "privacy@print-partner.example.org",
    "purpose": "service",
}
FARM = {"name": "render-farm", "contact": "dpo@render-farm.example.org", "purpose": "service"}


@contextmanager
def policy_naming(*processors: dict[str, str]) -> Iterator[None]:
    """The loaded policy names `processors` too, until the block ends."""
    policy = load_policy()
    before = policy.processors
    policy.processors = [*before, *processors]
    try:
        yield
    finally:
        policy.processors = before


@pytest.fixture
def two_processors() -> Iterator[tuple[dict[str, str], ...]]:
    """A policy naming two processors, each with a contact for Art. 19 notices."""
    with policy_naming(PRINT_PARTNER, FARM):
        yield (PRINT_PARTNER, FARM)


def disclose(
    c: Container,
    subject_id: str,
    recipient: str,
    *,
    categories: Sequence[str] = ("generated_model",),
    purpose: str = "service",
) -> None:
    """Record a disclosure through the service, in a unit of its own."""
    with c.uow() as uow:
        recipients.record_disclosure(
            uow,
            subject_id=subject_id,
            recipient=recipient,
            categories=list(categories),
            purpose=purpose,
        )
        uow.commit()
