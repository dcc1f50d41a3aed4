"""Policy 10.1, 10.2: every store declares its region; a store the policy does not allow stops
the start.

Each store (data database, key store, blob store, backups) names a region of the policy file
in its setting. Start-up refuses a region the policy does not declare, and one outside the
EU/EEA whose transfer safeguard (standard contractual clauses, adequacy decision, binding
corporate rules) is not recorded there (`policy/residency.py: transfer_problem`). The mail
relay and other processors are placed by their own entry of the policy (`processors`).
"""

from __future__ import annotations

from dataclasses import dataclass

from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from minimaker.policy import Policy
from minimaker.policy.residency import safeguard_text, transfer_problem
from minimaker.settings import Settings


@dataclass(frozen=True)
class Store:
    """A place the service itself keeps data, and the setting that declares its region."""

    name: str
    setting: str
    region: str


class StoreRegionRefused(ConfigurationError):
    """A store stands in a region the policy does not declare, or may not use (policy 10)."""

    code = "store_region_refused"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("store residency refused (policy 10):\n  " + "\n  ".join(problems))


def stores(settings: Settings) -> tuple[Store, ...]:
    """Every store of the service, with the region its setting declares."""
    return (
        Store("data database", "MINIMAKER_DATABASE_REGION", settings.database_region),
        Store("key store", "MINIMAKER_KEYSTORE_REGION", settings.keystore_region),
        # With a bucket, blob_region is the bucket's region (settings.py), set in its URL.
        Store("blob store", _blob_setting(settings), settings.blob_region),
        Store("backups", "MINIMAKER_BACKUP_REGION", settings.backup_region),
    )


def _blob_setting(settings: Settings) -> str:
    return "MINIMAKER_BLOB_URL region=" if settings.blob_url else "MINIMAKER_BLOB_REGION"


def store_problem(store: Store, policy: Policy) -> str | None:
    """Why `store` may not stand where its setting puts it; None if it may."""
    region = policy.regions.get(store.region)
    if region is None:
        declared = ", ".join(sorted(policy.regions))
        return (
            f"the {store.name} ({store.setting}) names region {store.region}, which the policy "
            f"file does not declare (its regions: {declared})"
        )
    why = transfer_problem(store.region, region)
    return None if why is None else f"the {store.name} ({store.setting}): {why}"


def problems(settings: Settings, policy: Policy) -> list[str]:
    """Every store that stands where the policy does not allow it, one line each."""
    return [p for s in stores(settings) if (p := store_problem(s, policy)) is not None]


def refuse_unlawful_stores(settings: Settings, policy: Policy) -> None:
    """Raise StoreRegionRefused, naming each store and region, unless every store is lawful."""
    found = problems(settings, policy)
    if found:
        raise StoreRegionRefused(found)


def check(c: Container) -> None:
    """Start-up: the container's stores against the policy in force (refuses as above)."""
    refuse_unlawful_stores(c.settings, c.policy)


def placement(store: Store, policy: Policy) -> str:
    """Where a store stands and under what safeguard, as the record of processing says."""
    region = policy.regions.get(store.region)
    if region is None:
        return f"{store.region}: not declared in the policy (refused)"
    return safeguard_text(store.region, region)
