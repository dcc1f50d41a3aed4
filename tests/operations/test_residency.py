"""Policy 10.1, 10.2: every store names a region of the policy; start-up refuses a store in a
region the policy does not declare, or outside the EU/EEA without a recorded safeguard."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from minimaker.bootstrap import build
from minimaker.kernel.container import Container
from minimaker.operations import residency, startup
from minimaker.operations.residency import StoreRegionRefused
from minimaker.policy import LoadedPolicy
from minimaker.settings import Settings
from tests.policy.files import policy_file
from tests.processes import minimaker, process_env

#: A region outside the EU/EEA that records no safeguard, and one under standard clauses.
_US_REGIONS = (
    "  eu-de:\n",
    "  us-bare:\n"
    "    description: A data centre in Virginia, without clauses.\n"
    "    country: US\n"
    "  us-scc:\n"
    "    description: A data centre in Virginia, under standard contractual clauses.\n"
    "    country: US\n"
    '    transfer: {safeguard: scc, reference: MM-SCC-2025-07, since: "2025-03-01"}\n'
    "  eu-de:\n",
)
STORES = {
    "database_region": ("data database", "MINIMAKER_DATABASE_REGION"),
    "keystore_region": ("key store", "MINIMAKER_KEYSTORE_REGION"),
    "blob_region": ("blob store", "MINIMAKER_BLOB_REGION"),
    "backup_region": ("backups", "MINIMAKER_BACKUP_REGION"),
}


@pytest.fixture
def us_policy(tmp_path: Path) -> Path:
    return policy_file(tmp_path / "operator", replace=(_US_REGIONS,))


def fresh(tmp_path: Path, **more: object) -> Settings:
    """Settings of a data directory that does not exist yet."""
    return Settings(data_dir=tmp_path / "fresh", master_key=None, **more)


def test_every_store_defaults_to_the_local_eu_region(container: Container) -> None:
    assert [s.region for s in residency.stores(container.settings)] == ["eu-local"] * 4
    assert residency.problems(container.settings, container.policy) == []


@pytest.mark.parametrize("setting", list(STORES))
def test_a_store_outside_the_eu_without_a_safeguard_stops_the_start_before_anything_opens(
    tmp_path: Path, us_policy: Path, setting: str
) -> None:
    settings = fresh(tmp_path, policy_file=us_policy, **{setting: "us-bare"})
    with pytest.raises(StoreRegionRefused) as caught:
        build(settings)
    store, variable = STORES[setting]
    message = str(caught.value)
    assert f"the {store} ({variable}): region us-bare (US) is outside the EU/EEA" in message
    assert "records no transfer safeguard" in message
    assert caught.value.status == 500 and caught.value.problems == [message.split("\n  ")[1]]
    # Refused before the data directory, a database file or a key file was made.
    assert not settings.data_dir.exists()


@pytest.mark.parametrize("setting", list(STORES))
def test_a_store_outside_the_eu_under_recorded_scc_starts(
    tmp_path: Path, us_policy: Path, setting: str
) -> None:
    c = build(fresh(tmp_path, policy_file=us_policy, **{setting: "us-scc"}))
    try:
        report = startup.prepare(c)
        assert report.migrations > 0
    finally:
        c.close()


def test_a_region_the_policy_does_not_declare_is_refused_naming_the_store_and_the_regions(
    tmp_path: Path,
) -> None:
    settings = fresh(tmp_path, blob_region="mars-1", keystore_region="eu-de")
    with pytest.raises(StoreRegionRefused) as caught:
        build(settings)
    assert caught.value.problems == [
        "the blob store (MINIMAKER_BLOB_REGION) names region mars-1, which the policy file "
        "does not declare (its regions: eu, eu-de, eu-local)"
    ]
    assert not settings.data_dir.exists()


def test_every_refused_store_is_named_at_once(tmp_path: Path, us_policy: Path) -> None:
    settings = fresh(
        tmp_path, policy_file=us_policy, database_region="us-bare", backup_region="nowhere"
    )
    with pytest.raises(StoreRegionRefused) as caught:
        build(settings)
    assert [p.split(" (")[0] for p in caught.value.problems] == ["the data database", "the backups"]


@pytest.mark.parametrize(
    "value", ["EU-LOCAL", "", "eu local", "eu/../x", "-eu", "e" * 41, "eu\nlocal"]
)
def test_a_malformed_region_name_is_refused_by_the_settings(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(backup_region=value)
    assert caught.value.errors()[0]["loc"] == ("backup_region",)


def test_a_region_of_the_wrong_type_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError):
        Settings(database_region=["eu"])  # type: ignore[arg-type]


def test_start_up_checks_the_stores_against_the_policy_in_force(container: Container) -> None:
    # A container whose policy was swapped for one without the region its blob store names:
    # the start-up check, not only the build, refuses it.
    before = container.policy_doc
    regions = {k: v for k, v in before.policy.regions.items() if k != "eu-local"}
    without = before.policy.model_copy(update={"regions": regions})
    container.policy_doc = LoadedPolicy(
        without, path=before.path, text=before.text, source=before.source
    )
    try:
        with pytest.raises(StoreRegionRefused, match="names region eu-local"):
            startup.prepare(container)
    finally:
        container.policy_doc = before


def test_the_command_line_refuses_a_non_eu_store_with_one_clear_line(
    settings: Settings, container: Container, us_policy: Path
) -> None:
    env = process_env(
        settings, MINIMAKER_POLICY_FILE=str(us_policy), MINIMAKER_DATABASE_REGION="us-bare"
    )
    done = minimaker("db", "upgrade", env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the data database (MINIMAKER_DATABASE_REGION): region us-bare (US)" in done.stderr
    assert "Traceback" not in done.stderr
    bad = minimaker("db", "upgrade", env={**env, "MINIMAKER_DATABASE_REGION": "Not A Region"})
    assert bad.returncode == 2
    assert "MINIMAKER_DATABASE_REGION" in bad.stderr and "Traceback" not in bad.stderr
