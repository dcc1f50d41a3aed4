"""Processors for the sharing tests, put into the container's policy for a test's duration.

The policy file refuses a processor without a DPA at load time; the service checks again, so
these go in with `model_copy`, as an operator's edited policy could never bring them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from minimaker.kernel.container import Container
from minimaker.policy import LoadedPolicy
from minimaker.policy.model import Dpa, Processor, Region, Safeguard, Transfer, Treatment

SIGNED = date(2025, 1, 1)


def processor(
    *,
    purposes: tuple[str, ...] = ("service",),
    categories: tuple[str, ...] = ("generated_model",),
    region: str = "eu-de",
    treatment: Treatment = Treatment.PERSONAL,
    dpa: Dpa | None = Dpa(reference="TEST-DPA", signed=SIGNED),  # noqa: B008 - frozen value
    keeps_copies: bool = True,
) -> Processor:
    """A processor entry as a policy file would hold it."""
    return Processor(
        description="A processor of the sharing tests.",
        contact="privacy@processor.example.org",
        dpa=dpa,
        purposes=list(purposes),
        categories=list(categories),
        region=region,
        treatment=treatment,
        keeps_copies=keeps_copies,
    )


#: Regions outside the EU: one with no safeguard, one under standard contractual clauses.
US_BARE = Region(description="A data centre in the US, no safeguard.", country="US")
US_SCC = Region(
    description="A data centre in the US under SCCs.",
    country="US",
    transfer=Transfer(safeguard=Safeguard.SCC, reference="SCC-2021/914-TEST", since=SIGNED),
)


@contextmanager
def policy_with(
    c: Container, processors: dict[str, Processor], regions: dict[str, Region] | None = None
) -> Iterator[None]:
    """The container's policy with `processors` (and `regions`) added, until the block ends."""
    before = c.policy_doc
    update: dict[str, Any] = {"processors": {**before.policy.processors, **processors}}
    if regions:
        update["regions"] = {**before.policy.regions, **regions}
    policy = before.policy.model_copy(update=update)
    c.policy_doc = LoadedPolicy(policy, path=before.path, text=before.text, source=before.source)
    try:
        yield
    finally:
        c.policy_doc = before
