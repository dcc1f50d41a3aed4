"""The rules that relate one part of the policy file to another, each naming where it broke.

Every finding is a (path, message) pair; the loader turns the path into the file's line, so
an operator who edits the policy is told "line 42: ..." rather than handed a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator

from minimaker.policy.model import LawfulBasis, Policy, Safeguard
from minimaker.policy.residency import countries

Path = tuple[str | int, ...]
Finding = tuple[Path, str]


def findings(policy: Policy) -> list[Finding]:
    """Every inconsistency in `policy`, in file order; empty when the policy is coherent."""
    return [*_categories(policy), *_purposes(policy), *_processors(policy), *_regions(policy)]


def _categories(policy: Policy) -> Iterator[Finding]:
    used = {c for p in policy.purposes.values() for c in p.categories}
    seen: set[str] = set()
    for name, category in policy.categories.items():
        for i, subjects in enumerate(category.subjects):
            if subjects not in policy.data_subjects:
                yield ("categories", name, "subjects", i), f"unknown data subjects {subjects!r}"
        for rule_name, rule in category.rules.items():
            if rule_name in seen:
                # Holds and the report name a rule alone: the name must say which one.
                yield (
                    ("categories", name, "rules", rule_name),
                    f"rule {rule_name} is named twice (rule names are unique in the file)",
                )
            seen.add(rule_name)
            if (rule.after is None) == (rule.until is None):
                yield (
                    ("categories", name, "rules", rule_name),
                    f"rule {rule_name} of {name} needs exactly one of after: or until:",
                )
        if name not in used:
            # Art. 5(1)(b), (c): data held for no purpose should not be held at all.
            yield ("categories", name), f"category {name} is processed for no purpose"


def _purposes(policy: Policy) -> Iterator[Finding]:
    for name, p in policy.purposes.items():
        at = ("purposes", name)
        for i, category in enumerate(p.categories):
            if category not in policy.categories:
                yield (*at, "categories", i), f"purpose {name} names unknown category {category}"
        consent_basis = p.lawful_basis is LawfulBasis.CONSENT
        if consent_basis and not p.consent:
            yield (*at, "consent"), f"purpose {name} rests on consent, so consent: true"
        if p.consent and not consent_basis:
            yield (
                (*at, "lawful_basis"),
                (f"purpose {name} asks for consent, so its lawful basis is a (Art. 6(1)(a))"),
            )
        if p.consent_default:
            # Art. 4(11), Recital 32 and CJEU C-673/17 (Planet49): no pre-ticked consent.
            yield (
                (*at, "consent_default"),
                (f"purpose {name} would count as consented before the person opted in"),
            )
        objectable_basis = (LawfulBasis.LEGITIMATE_INTERESTS, LawfulBasis.PUBLIC_TASK)
        if p.lawful_basis in objectable_basis and not p.objectable:
            yield (
                (*at, "objectable"),
                (
                    f"purpose {name} rests on {p.lawful_basis.citation}, which the subject may "
                    "object to (Art. 21(1)): objectable: true"
                ),
            )


def _processors(policy: Policy) -> Iterator[Finding]:
    for name, proc in policy.processors.items():
        at = ("processors", name)
        if proc.dpa is None:
            yield at, f"processor {name} has no data processing agreement (Art. 28(3), policy 7.1)"
        allowed: set[str] = set()
        for i, purpose in enumerate(proc.purposes):
            if purpose not in policy.purposes:
                yield (*at, "purposes", i), f"processor {name} names unknown purpose {purpose}"
            else:
                allowed.update(policy.purposes[purpose].categories)
        for i, category in enumerate(proc.categories):
            if category not in allowed:
                yield (
                    (*at, "categories", i),
                    (
                        f"processor {name} would receive {category}, which none of its purposes "
                        "may touch"
                    ),
                )
        if proc.region not in policy.regions:
            yield (*at, "region"), f"processor {name} names unknown region {proc.region}"


def _regions(policy: Policy) -> Iterator[Finding]:
    adequate = countries().adequacy
    for name, region in policy.regions.items():
        t = region.transfer
        if t is not None and t.safeguard is Safeguard.ADEQUACY and region.country not in adequate:
            yield (
                ("regions", name, "transfer", "safeguard"),
                (f"no adequacy decision covers {region.country} ({countries().adequacy_source})"),
            )
