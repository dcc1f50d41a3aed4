"""Settings, declared once with their help text: `MINIMAKER_*` variables and optional TOML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: Regions we may store data in without a recorded transfer safeguard (policy 10.1).
EU_REGIONS = ("eu", "eu-local")


class Settings(BaseSettings):
    """Everything an operator can set; each field's description is its documentation."""

    model_config = SettingsConfigDict(env_prefix="MINIMAKER_", extra="forbid")

    data_dir: Path = Field(
        Path("minimaker-data"),
        description="Directory for the SQLite database, encrypted blobs and the local key file.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; PostgreSQL as postgresql+psycopg://... "
        "Default: SQLite in WAL mode at <data_dir>/minimaker.db.",
    )
    keystore_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the key store (wrapped data keys, erasure ledger), kept "
        "apart from the data so a restored backup cannot revive an erased subject. "
        "Default: SQLite at <data_dir>/keys.db.",
    )
    master_key: str | None = Field(
        None,
        description="Master key (KEK): 32 random bytes, URL-safe base64, as "
        "`minimaker keys generate` prints. Default: a local key file, created 0600.",
    )
    master_key_file: Path | None = Field(
        None, description="Path of the local master key file. Default: <data_dir>/master.key."
    )
    blob_region: str = Field(
        "eu-local", description="Region the blob store declares; non-EU regions are refused."
    )
    token_ttl_s: int = Field(3600, ge=60, description="Lifetime of a bearer token/session.")
    cookie_secure: bool = Field(
        True, description="Mark the session cookie Secure (browsers accept it on localhost)."
    )
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest accepted upload, in bytes."
    )
    max_image_pixels: int = Field(
        40_000_000,
        ge=1,
        description="Largest accepted image, in pixels; larger is refused as a possible "
        "decompression bomb before it is decoded.",
    )
    max_image_side: int = Field(12_000, ge=16, description="Largest accepted image side.")
    argon2_time_cost: int = Field(3, ge=1, description="argon2id passes over memory.")
    argon2_memory_kib: int = Field(
        65536, ge=8, description="argon2id memory per password hash, in KiB (64 MiB default)."
    )
    argon2_parallelism: int = Field(4, ge=1, description="argon2id lanes.")
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins allowed per account and per IP in the window."
    )
    login_window_s: int = Field(900, ge=1, description="Window for counting failed logins.")
    embedded_worker: bool = Field(True, description="Run a job worker inside `minimaker serve`.")
    access_log: bool = Field(
        False,
        description="Log one line per HTTP request. Off by default: the lines carry client "
        "IP addresses, which are personal data.",
    )
    worker_poll_s: float = Field(0.5, gt=0, description="Idle poll interval of job workers.")
    job_max_attempts: int = Field(3, ge=1, description="Attempts before a job is failed.")
    job_lease_s: int = Field(
        600, ge=5, description="A running job not finished in this time is retried."
    )
    generation_max_resolution: int = Field(
        512, ge=2, le=2048, description="Default grid cap for generated reliefs."
    )

    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL people reach MiniMaker at; links in emails start with it.",
    )
    smtp_url: str | None = Field(
        None,
        description="Deliver email by SMTP: smtp://[user:password@]host[:port] "
        "(add ?starttls=1 for STARTTLS) or smtps://... Default: write messages as files "
        "into <data_dir>/outbox for an operator to read (`minimaker outbox list`).",
    )
    mail_from: str = Field(
        "privacy@minimaker.ai", description="Sender address of every email MiniMaker sends."
    )
    verification_ttl_s: int = Field(
        86400, ge=60, description="Lifetime of an emailed single-use verification link."
    )
    archive_ttl_days: int = Field(
        7, ge=1, description="Days an access or portability archive stays downloadable."
    )
    periodic_s: float = Field(
        30.0, gt=0, description="Interval of the worker's periodic duties (mail, expiry, alerts)."
    )

    @field_validator("blob_region")
    @classmethod
    def _region_must_be_eu(cls, value: str) -> str:
        # Policy 10.1: all data is stored within the EU; another region needs a safeguard
        # recorded in the policy file, which later work adds; until then, refuse to start.
        if value not in EU_REGIONS:
            raise ValueError(f"region {value!r} is outside the EU; refused (policy 10.1)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("MINIMAKER_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    def resolved_database_url(self) -> str:
        """The database URL in force: the configured one, or SQLite under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'minimaker.db').resolve()}"

    def resolved_keystore_url(self) -> str:
        """The key store URL in force: the configured one, or SQLite under data_dir."""
        if self.keystore_url:
            return self.keystore_url
        return f"sqlite:///{(self.data_dir / 'keys.db').resolve()}"

    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and MINIMAKER_CONFIG's TOML file), overrides first."""
    return Settings(**overrides)
