"""Settings, declared once with their help text: `MINIMAKER_*` variables and optional TOML."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from minimaker.kernel.errors import ConfigurationError
from minimaker.settings_blobs import BlobStoreSettings
from minimaker.settings_parts import (
    AnalyticsSettings,
    DetectionSettings,
    FleetSettings,
    SelfcheckSettings,
)

#: How a region is named: as the policy file's `regions` keys are (policy/model.py `Name`).
REGION_NAME = r"^[a-z][a-z0-9_-]{0,39}$"


class Settings(
    AnalyticsSettings, SelfcheckSettings, DetectionSettings, BlobStoreSettings, FleetSettings
):
    """Everything an operator can set; each field's description is its documentation (the
    usage analytics', the self-check's, detection's and the fleet's are declared in
    settings_parts.py, the S3 blob store's in settings_blobs.py)."""

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
    policy_file: Path | None = Field(
        None,
        description="The policy file the service obeys (purposes, categories, processors, "
        "regions; see src/minimaker/policy/policy.yaml). Default: the shipped policy.",
    )
    # Policy 10.1, 10.2: each store names a region of the policy file; start-up refuses one
    # the policy does not declare, or one outside the EU/EEA without a recorded safeguard.
    database_region: str = Field(
        "eu-local",
        pattern=REGION_NAME,
        description="Region (of the policy file's `regions`) the data database stands in.",
    )
    keystore_region: str = Field(
        "eu-local",
        pattern=REGION_NAME,
        description="Region (of the policy file's `regions`) the key store stands in.",
    )
    blob_region: str = Field(
        "eu-local",
        pattern=REGION_NAME,
        description="Region (of the policy file's `regions`) the blob store stands in; with "
        "blob_url set, the bucket's region (its region=) is taken.",
    )
    backup_region: str = Field(
        "eu-local",
        pattern=REGION_NAME,
        description="Region (of the policy file's `regions`) backups are kept in.",
    )
    backup_dir: Path = Field(
        Path("minimaker-backups"),
        description="Directory backups are kept in. Breach scoping reads a backup only from "
        "here (`backup:<file>` names a file in it), so scoping cannot be made to read other "
        "files of the server; `minimaker backup create` may write anywhere.",
    )
    token_ttl_s: int = Field(3600, ge=60, description="Lifetime of a bearer token/session.")
    cookie_secure: bool = Field(
        True,
        description="Mark the cookies Secure over plain HTTP too (browsers accept it on "
        "localhost); over HTTPS they always are.",
    )
    # Policy 5.1: personal data is encrypted in transit; `serve` refuses plain HTTP off
    # loopback unless told otherwise (--insecure, or a trusted proxy that terminates TLS).
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate (with its chain) `minimaker serve` serves HTTPS with "
        "(TLS 1.2 or later); needs tls_key. Same as `serve --tls-cert`.",
    )
    tls_key: Path | None = Field(
        None,
        description="PEM private key of tls_cert, unencrypted, not readable by others. "
        "Same as `serve --tls-key`.",
    )
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest accepted upload, in bytes."
    )
    max_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request body that is not an upload (JSON, forms), in bytes; "
        "counted as it arrives, chunked or not.",
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
        5,
        ge=1,
        description="Failed logins allowed per account from unknown devices (then the "
        "backoff), and per device cookie, in the window; staff sign-in and requests by email "
        "allow this many per name and per address.",
    )
    login_window_s: int = Field(900, ge=1, description="Window for counting failed logins.")
    # Sign-in throttles (OWASP lockout guidance): an attacker is slowed per account and per
    # address, while people on a known device, or whose account nobody attacked, pass.
    login_backoff_s: int = Field(
        60,
        ge=1,
        description="Wait after an account's login_max_failures-th failure from unknown "
        "devices; doubled with each further failure, at most login_window_s.",
    )
    login_address_max_failures: int = Field(
        20,
        ge=1,
        description="Failed logins from one address in the window after which that address "
        "may no longer try accounts that have failures of their own (accounts nobody "
        "attacked, and known devices, still pass).",
    )
    device_cookie_ttl_days: int = Field(
        365,
        ge=1,
        description="Lifetime of the signed device cookie a successful sign-in sets; with "
        "it, the client passes the address and account throttles that others caused.",
    )
    signup_max_per_address: int = Field(
        5, ge=1, description="Sign-ups allowed from one address per signup_window_s."
    )
    signup_window_s: int = Field(3600, ge=1, description="Window of signup_max_per_address.")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxies (IP addresses or CIDR networks, comma-separated) whose "
        "forwarding header names the client; from anyone else it is ignored. Empty: the "
        "peer address is the client.",
    )
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = Field(
        "x-forwarded-for",
        description="The header the trusted proxies set (`x-forwarded-for` or RFC 7239 "
        "`forwarded`); the other one is never read.",
    )
    access_log: bool = Field(
        False,
        description="Log one line per HTTP request. Off by default: the lines carry client "
        "IP addresses, which are personal data.",
    )
    sweep_grace_s: int = Field(
        3600,
        ge=60,
        description="Age before the sweep removes a stray temp file or a blob no row names; "
        "longer than any write in progress can take, so it never touches one.",
    )
    sweep_interval_s: float = Field(
        900.0, gt=0, description="Interval of the sweep of stray temp files and orphan blobs."
    )
    generation_max_resolution: int = Field(
        512, ge=2, le=2048, description="Default grid cap for generated reliefs."
    )
    generation_depth_model: Path | None = Field(
        None,
        description="An ONNX monocular depth model (input (1, 3, H, W) RGB, ImageNet-"
        "normalised; output relative inverse depth) that reliefs take their shape from; "
        "unset: the subject's inflated silhouette. Supplied by the operator: none is shipped "
        "or downloaded.",
    )
    # Resource limits (policy 3.6: protection against loss or damage): one subject, or a
    # burst of requests, must not be able to exhaust the disk or the memory of the service.
    storage_quota_bytes: int = Field(
        1024**3,
        ge=1024,
        description="Storage quota per subject: bytes of their photos plus generated model "
        "files (queued models count at their estimated size); more is refused with 413.",
    )
    max_model_bytes: int = Field(
        256 * 1024**2,
        ge=1024,
        description="Largest generated model, its STL, GLB and OBJ files together, estimated "
        "from the grid before any mesh is built; larger is refused with 413.",
    )
    generation_rate_limit: int = Field(
        20, ge=1, description="Models a subject may request per generation_rate_window_s."
    )
    generation_rate_window_s: int = Field(
        3600, ge=1, description="Window of generation_rate_limit, in seconds."
    )
    generation_max_active: int = Field(
        2, ge=1, description="Models a subject may have queued or running at once."
    )
    max_image_decoded_bytes: int = Field(
        128 * 1024**2,
        ge=1024,
        description="Largest memory one image may take decoded (width x height x bytes per "
        "pixel, from its header, before decoding); larger is refused with 413.",
    )
    decode_budget_bytes: int = Field(
        256 * 1024**2,
        ge=1024,
        description="Memory all images being decoded at once in one process may take; an "
        "upload waits up to decode_wait_s for room, then gets 503 with Retry-After.",
    )
    decode_wait_s: float = Field(
        5.0, ge=0, description="How long an upload waits for room in decode_budget_bytes."
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
    smtp_ca_file: Path | None = Field(
        None,
        description="PEM file of the certificate authorities trusted for the SMTP relay's "
        "certificate (a private CA); default: the system's. The certificate and its name are "
        "always verified.",
    )
    mail_from: str = Field(
        "privacy@minimaker.ai", description="Sender address of every email MiniMaker sends."
    )
    smtp_processor: str = Field(
        "smtp-relay",
        description="The policy's processor entry for the SMTP relay: every message handed "
        "to it is a disclosure, recorded through the sharing service. With smtp_url set, "
        "start-up refuses a missing entry, one without a valid DPA, or one outside the EU "
        "without a safeguard.",
    )
    verification_ttl_s: int = Field(
        86400, ge=60, description="Lifetime of an emailed single-use verification link."
    )
    archive_ttl_days: int = Field(
        7, ge=1, description="Days an access or portability archive stays downloadable."
    )
    audit_checkpoint_file: Path | None = Field(
        None,
        description="Append-only file of signed audit-chain checkpoints (a copy of those in "
        "the key store), out of reach of the data database; keep it on storage the database "
        "host cannot write (chattr +a helps). Default: <data_dir>/audit-checkpoints.log.",
    )
    retention_interval_s: float = Field(
        3600.0,
        gt=0,
        description="Interval of the retention sweeps: every rule of the policy file applied "
        "(policy 3.5, 9.1).",
    )
    retention_batch: int = Field(
        500,
        ge=1,
        le=10000,
        description="Items a retention sweep removes per transaction: a crash loses at most one "
        "batch, and a rerun resumes.",
    )

    @model_validator(mode="after")
    def _mail_leaves_encrypted(self) -> Settings:
        # Policy 5.1: every process refuses, as it starts, a relay it would send mail (names,
        # addresses, links) to in plaintext over a network, or a CA file it cannot read.
        # Raised as a ConfigurationError, not a ValueError: pydantic would echo the URL, and
        # it may carry a password.
        if self.smtp_url is not None:
            from minimaker.adapters.mailers import SmtpMailer, SmtpServer

            server = SmtpServer.from_url(self.smtp_url)
            SmtpMailer(server, sender=self.mail_from, ca_file=self.smtp_ca_file)
        return self

    @model_validator(mode="after")
    def _blob_region_is_the_buckets(self) -> Settings:
        # Policy 10: the residency rules check blob_region, so with a bucket it is the
        # bucket's region; a different one set beside it would be checked instead: refused.
        if self.blob_url:
            from minimaker.adapters.s3_location import S3Location

            region = S3Location.from_url(self.blob_url).region
            if "blob_region" in self.model_fields_set and self.blob_region != region:
                raise ConfigurationError(
                    f"MINIMAKER_BLOB_REGION ({self.blob_region}) is not the region of "
                    f"MINIMAKER_BLOB_URL ({region}); set the bucket's region in the URL only"
                )
            self.blob_region = region
        return self

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_are_networks(cls, value: object) -> list[str]:
        # A mistyped proxy must stop the start: ignoring it would trust nobody (or, worse,
        # a broader network than meant), and the throttles would key on the wrong address.
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("must be a list of IP addresses or CIDR networks")
        texts = [str(item).strip() for item in items]
        return [str(ipaddress.ip_network(text, strict=False)) for text in texts if text]

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

    def resolved_checkpoint_file(self) -> Path:
        return self.audit_checkpoint_file or self.data_dir / "audit-checkpoints.log"

    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: localhost, 127.0.0.0/8 or ::1 (not 0.0.0.0)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False  # another name may resolve anywhere: not trusted to stay on this machine
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and MINIMAKER_CONFIG's TOML file), overrides first."""
    return Settings(**overrides)
