"""The policy as data: a versioned YAML file validated by pydantic, which the code obeys.

`load()` reads and checks a policy file once per process; the container holds the one in force
(`c.policy`), so an operator's MINIMAKER_POLICY_FILE changes behaviour, the access archive and
the record of processing together.
"""

from __future__ import annotations

from minimaker.policy.load import SHIPPED, LoadedPolicy, PolicyRefused, load, parse
from minimaker.policy.model import LawfulBasis, Policy, Processor, Region, Treatment

__all__ = [
    "SHIPPED",
    "LawfulBasis",
    "LoadedPolicy",
    "Policy",
    "PolicyRefused",
    "Processor",
    "Region",
    "Treatment",
    "load",
    "load_policy",
    "parse",
    "policy_text",
]


def load_policy() -> Policy:
    """The shipped policy (tests and tools that hold no container)."""
    return load().policy


def policy_text() -> str:
    """The shipped policy's readable text."""
    return load().text
