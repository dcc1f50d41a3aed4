"""Purpose limitation as a pure rule: may this purpose touch these categories of this subject?

The policy file declares each purpose with the categories it may touch, whether the subject
may object to it and whether it needs their consent; `refusal` decides from that and the
subject's state (restriction, objections, consents). `rights/processing.py` reads both and
asks here before any use of a subject's data (DESIGN invariant 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from minimaker.kernel.errors import ProcessingRefused


class Purpose(StrEnum):
    """The purposes the code knows how to honour; code names a purpose, never a free string.

    A policy file may declare only these (bootstrap refuses others) and may leave some out:
    processing under a purpose the policy does not declare is then refused.
    """

    SERVICE = "service"
    GENERATION = "generation"
    SECURITY = "security"
    ANALYTICS = "analytics"
    TRAINING = "training"
    MARKETING = "marketing"


#: Art. 18(2): a restricted subject's data is only stored - and what they ask for themselves
#: (their own access, their requests and the mail about them: service) and the protection of
#: the service and of legal claims (security) go on. Everything else is refused.
ALLOWED_WHILE_RESTRICTED = frozenset({Purpose.SERVICE, Purpose.SECURITY})


@dataclass(frozen=True)
class Declared:
    """What the policy says of one purpose: the categories it may touch, objection, consent."""

    categories: frozenset[str]
    objectable: bool = False
    consent: bool = False


@dataclass(frozen=True)
class SubjectState:
    """What the subject has decided: a restriction, their objections, their consents."""

    restricted: bool = False
    objections: frozenset[str] = frozenset()
    consents: frozenset[str] = frozenset()


class Refusal(StrEnum):
    """Why processing was refused; the audit records this code, never more."""

    UNDECLARED = "undeclared"
    CATEGORY = "category"
    RESTRICTED = "restricted"
    OBJECTED = "objected"
    NO_CONSENT = "no_consent"


def refusal(
    purpose: Purpose,
    categories: Iterable[str],
    state: SubjectState,
    declared: Mapping[str, Declared],
) -> tuple[Refusal, str] | None:
    """Why `purpose` may not touch `categories` of a subject in `state`; None if it may."""
    policy = declared.get(purpose.value)
    if policy is None:
        return Refusal.UNDECLARED, f"the policy declares no purpose {purpose.value} (Art. 5(1)(b))"
    outside = sorted(set(categories) - policy.categories)
    if outside:
        return Refusal.CATEGORY, (
            f"the policy does not declare {', '.join(outside)} for {purpose.value} (Art. 5(1)(b))"
        )
    if state.restricted and purpose not in ALLOWED_WHILE_RESTRICTED:
        return Refusal.RESTRICTED, "processing of this account is restricted (Art. 18) until lifted"
    if policy.objectable and purpose.value in state.objections:
        return Refusal.OBJECTED, f"the subject objected to {purpose.value} (Art. 21)"
    if policy.consent and purpose.value not in state.consents:
        return (
            Refusal.NO_CONSENT,
            f"the subject has not consented to {purpose.value} (Art. 6(1)(a))",
        )
    return None


def check(
    purpose: Purpose,
    categories: Iterable[str],
    state: SubjectState,
    declared: Mapping[str, Declared],
) -> Purpose:
    """`purpose`, if it may touch `categories` of this subject; else ProcessingRefused."""
    found = refusal(purpose, categories, state, declared)
    if found is not None:
        raise ProcessingRefused(purpose.value, found[1])
    return purpose


def state_matters(purpose: Purpose, declared: Mapping[str, Declared]) -> bool:
    """Whether any subject state could change `refusal`'s answer for `purpose`.

    When it cannot (allowed while restricted, not objectable, no consent, or not declared at
    all), the caller may skip reading the subject's state: `refusal` with an empty state
    gives the same answer for every subject.
    """
    policy = declared.get(purpose.value)
    if policy is None:
        return False
    return purpose not in ALLOWED_WHILE_RESTRICTED or policy.objectable or policy.consent
