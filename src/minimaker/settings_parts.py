"""Settings of two features, declared apart to keep settings.py readable; `Settings`
inherits them, so they are read from the same `MINIMAKER_*` variables and TOML file."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnalyticsSettings(BaseSettings):
    """Usage analytics (policy 4.2, 7.3; analytics/)."""

    model_config = SettingsConfigDict(env_prefix="MINIMAKER_", extra="forbid")

    analytics_url: str | None = Field(
        None,
        description="Where anonymised usage aggregates are POSTed as JSON for the "
        "analytics-provider processor (http:// only on loopback). Default: nothing is sent.",
    )
    analytics_timeout_s: float = Field(
        10.0, gt=0, le=120, description="Timeout of one POST to analytics_url, in seconds."
    )
    # Policy 4.2, 7.3 (analytics/aggregates.py): the promise is k >= 10; a smaller k
    # would be a configuration that breaks the policy, so it is refused, not merely advised.
    analytics_k: int = Field(
        10,
        ge=10,
        le=1000,
        description="Smallest number of distinct people a published usage cell may count; "
        "smaller cells are not published at all (at least 10).",
    )
    analytics_cap: int = Field(
        10,
        ge=1,
        le=1000,
        description="Events one person contributes at most to one published cell of a day; "
        "the noise is scaled to it.",
    )
    analytics_epsilon: float = Field(
        1.0,
        gt=0,
        le=10,
        description="Differential-privacy epsilon one publication of a day's usage "
        "aggregates spends (OpenDP discrete Laplace noise).",
    )
    analytics_day_budget: float = Field(
        3.0,
        gt=0,
        le=30,
        description="Total epsilon all publications of one day may spend; a publication "
        "that would exceed it is refused.",
    )


class SelfcheckSettings(BaseSettings):
    """The security self-check (policy 5.1; operations/selfcheck.py)."""

    model_config = SettingsConfigDict(env_prefix="MINIMAKER_", extra="forbid")

    # Policy 5.1: regular security audits; each self-check is kept as a row (selfcheck_runs).
    selfcheck_interval_s: float = Field(
        86400.0,
        gt=0,
        description="Interval of the workers' security self-check (`minimaker selfcheck`), "
        "each run kept as the record of regular security audits (policy 5.1).",
    )
    selfcheck_retention_backlog: int = Field(
        1000,
        ge=0,
        description="Items past their retention rule's cutoff above which the self-check "
        "warns (the retention sweeps are falling behind).",
    )
    selfcheck_audit_timeout_s: float = Field(
        60.0,
        gt=0,
        le=600,
        description="Timeout of the self-check's dependency audit (pip-audit, when installed "
        "and its advisory source is reachable); past it the check is skipped.",
    )
