"""Policy 10: where data may be stored or sent, from the EU/EEA and adequacy lists (data)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from minimaker.policy.model import Region, Safeguard


@dataclass(frozen=True)
class Countries:
    """The EU/EEA and the countries with an adequacy decision, with where the lists come from."""

    eu_eea: frozenset[str]
    eu_eea_source: str
    adequacy: dict[str, str]
    adequacy_source: str
    as_of: str


@cache
def countries() -> Countries:
    """The lists shipped in countries.yaml."""
    text = resources.files("minimaker.policy").joinpath("countries.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return Countries(
        eu_eea=frozenset(data["eu_eea"]["countries"]),
        eu_eea_source=data["eu_eea"]["source"],
        adequacy=dict(data["adequacy"]["countries"]),
        adequacy_source=data["adequacy"]["source"],
        as_of=min(data["eu_eea"]["as_of"], data["adequacy"]["as_of"]),
    )


def in_eu(region: Region) -> bool:
    """Whether the region lies in the EU/EEA, where GDPR applies and no transfer happens."""
    return region.country in countries().eu_eea


def transfer_problem(name: str, region: Region) -> str | None:
    """Why storing in or sending to `region` would be an unlawful transfer; None if lawful."""
    if in_eu(region):
        return None
    if region.transfer is None:
        return (
            f"region {name} ({region.country}) is outside the EU/EEA and records no transfer "
            "safeguard (policy 10.2: standard contractual clauses, adequacy decision or binding "
            "corporate rules)"
        )
    if (
        region.transfer.safeguard is Safeguard.ADEQUACY
        and region.country not in countries().adequacy
    ):
        return (
            f"region {name} ({region.country}) relies on an adequacy decision, but the Commission "
            f"has adopted none for {region.country} (list as of {countries().as_of})"
        )
    return None


def safeguard_text(name: str, region: Region) -> str:
    """One line for the record of processing and the access archive: where, and under what."""
    if in_eu(region):
        return f"{name}: {region.country}, within the EU/EEA (no transfer)"
    if region.transfer is None:
        return f"{name}: {region.country}, outside the EU/EEA, no safeguard (refused)"
    t = region.transfer
    return f"{name}: {region.country}, {t.safeguard.value} ({t.reference}, since {t.since})"
