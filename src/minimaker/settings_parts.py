"""Settings of four parts of the system, declared apart to keep settings.py readable; `Settings`
inherits them, so they are read from the same `MINIMAKER_*` variables and TOML file."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
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


class DetectionSettings(BaseSettings):
    """Breach detection over the audit stream and what is held (policy 5.1, 8; detection/)."""

    model_config = SettingsConfigDict(env_prefix="MINIMAKER_", extra="forbid")

    detection_batch: int = Field(
        5000,
        ge=100,
        le=100_000,
        description="Audit entries the detection duty reads per transaction (after the last "
        "one it read); a longer backlog is read over several runs.",
    )
    detection_subjects_threshold: int = Field(
        50,
        ge=2,
        description="Distinct subjects one staff account's audited actions may name within "
        "detection_subjects_window_s before an alert (many_subjects).",
    )
    detection_subjects_window_s: int = Field(
        3600, ge=60, description="Window of detection_subjects_threshold, in seconds."
    )
    detection_role_window_s: int = Field(
        3600,
        ge=60,
        description="Window in which one staff account's actions outside its role "
        "(outside_role: any one) and its refused attempts (access_denied) are counted "
        "together into one alert, in seconds.",
    )
    detection_denied_threshold: int = Field(
        5,
        ge=1,
        description="Refused attempts (staff:access:denied) of one staff account within "
        "detection_role_window_s before an alert (access_denied).",
    )
    detection_work_start_hour: int = Field(
        7, ge=0, le=23, description="Working hours begin at this hour (detection_timezone)."
    )
    detection_work_end_hour: int = Field(
        20,
        ge=1,
        le=24,
        description="Working hours end at this hour (detection_timezone; 24: midnight); "
        "staff actions outside the hours or days count for outside_hours.",
    )
    detection_work_days: str = Field(
        "mon,tue,wed,thu,fri",
        pattern=r"^((mon|tue|wed|thu|fri|sat|sun)(,(mon|tue|wed|thu|fri|sat|sun))*)?$",
        description="Working days, comma-separated (mon,tue,...,sun); staff actions on other "
        "days count for outside_hours.",
    )
    detection_timezone: str = Field(
        "UTC",
        description="IANA time zone of the working hours and days (Europe/Berlin); UTC by default.",
    )
    detection_outside_hours_threshold: int = Field(
        1,
        ge=1,
        description="Staff actions of one account outside the working hours and days within "
        "detection_outside_hours_window_s before an alert (outside_hours).",
    )
    detection_outside_hours_window_s: int = Field(
        3600, ge=60, description="Window of detection_outside_hours_threshold, in seconds."
    )
    detection_failed_account_threshold: int = Field(
        5,
        ge=1,
        description="Failed sign-ins (password or second factor) of one staff account within "
        "detection_failed_window_s before an alert (failed_sign_ins_account).",
    )
    detection_failed_total_threshold: int = Field(
        20,
        ge=1,
        description="Failed staff sign-ins of every account together (unknown names too) "
        "within detection_failed_window_s before an alert (failed_sign_ins).",
    )
    detection_failed_window_s: int = Field(
        900, ge=60, description="Window of the failed sign-in thresholds, in seconds."
    )
    detection_erasure_threshold: int = Field(
        20,
        ge=1,
        description="Erasure requests received within detection_requests_window_s before an "
        "alert (erasure_burst).",
    )
    detection_export_threshold: int = Field(
        20,
        ge=1,
        description="Access and portability requests received within "
        "detection_requests_window_s before an alert (export_burst).",
    )
    detection_requests_window_s: int = Field(
        3600, ge=60, description="Window of the rights request thresholds, in seconds."
    )
    detection_held_interval_s: float = Field(
        3600.0,
        gt=0,
        description="Interval of the detection rules over what is held: the audit chain "
        "verified against its checkpoints (a finding opens an incident), blobs no row names, "
        "data keys of no subject.",
    )

    @field_validator("detection_timezone")
    @classmethod
    def _zone_is_known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name, like UTC or Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _hours_are_a_day_span(self) -> DetectionSettings:
        if self.detection_work_end_hour <= self.detection_work_start_hour:
            raise ValueError("detection_work_end_hour must be after detection_work_start_hour")
        return self


class FleetSettings(BaseSettings):
    """Many processes: the duties' schedule across workers, metrics and log lines (issue 13)."""

    model_config = SettingsConfigDict(env_prefix="MINIMAKER_", extra="forbid")

    embedded_worker: bool = Field(True, description="Run a job worker inside `minimaker serve`.")
    worker_poll_s: float = Field(0.5, gt=0, description="Idle poll interval of job workers.")
    job_max_attempts: int = Field(3, ge=1, description="Attempts before a job is failed.")
    job_lease_s: int = Field(
        30,
        ge=2,
        description="Lease of a running job, renewed by its worker's heartbeat every third of "
        "it: a job whose worker died is claimed again by another this long after.",
    )
    periodic_s: float = Field(
        30.0, gt=0, description="Interval of the worker's periodic duties (mail, expiry, alerts)."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token a Prometheus scraper sends to GET /metrics; unset, /metrics "
        "answers 404. The metrics carry no personal data.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines as text, or as one JSON object per line (for a log collector); "
        "no log line carries personal data either way.",
    )
    duty_lease_s: float = Field(
        900.0,
        gt=0,
        le=86400,
        description="How long a worker holds a periodic duty it runs before another worker may "
        "take it over (a worker killed mid-duty frees it after this); each duty runs once per "
        "periodic_s (retention, the sweep, the self-check: once per their own interval) across "
        "all workers.",
    )
