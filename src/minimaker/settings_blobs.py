"""Settings of the S3 blob store, declared apart to keep settings.py readable; `Settings`
inherits them, so they are read from the same `MINIMAKER_*` variables and TOML file."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from minimaker.kernel.errors import ConfigurationError


class BlobStoreSettings(BaseSettings):
    """Where blobs live when not in the local directory: an S3-compatible bucket."""

    model_config = SettingsConfigDict(env_prefix="MINIMAKER_", extra="forbid")

    blob_url: str | None = Field(
        None,
        description="Keep the encrypted blobs in an S3-compatible bucket: "
        "s3://bucket/prefix?region=REGION[&endpoint=http://host:port] (endpoint for a store "
        "other than AWS, e.g. SeaweedFS or MinIO; plain http only on loopback). REGION is "
        "the bucket's region and must be a region of the policy file: the residency rules "
        "check it. Default: files under <data_dir>/blobs.",
    )
    s3_access_key: SecretStr | None = Field(
        None,
        description="Access key id for blob_url; with s3_secret_key. Default: the standard "
        "AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, an instance role).",
    )
    s3_secret_key: SecretStr | None = Field(
        None, description="Secret access key for blob_url; with s3_access_key."
    )

    @field_validator("blob_url")
    @classmethod
    def _blob_url_is_a_bucket(cls, value: str | None) -> str | None:
        # Raised as a ConfigurationError (not a ValueError pydantic would echo): a malformed
        # URL stops every process as it starts, saying what is wrong with it.
        if value:
            from minimaker.adapters.s3_location import S3Location
            from minimaker.settings import is_loopback

            endpoint = urlsplit(S3Location.from_url(value).endpoint or "")
            # Policy 5.1: the blobs are ciphertext, but their ids, sizes and the requests
            # that name them are not; off this machine, TLS.
            if endpoint.scheme == "http" and not is_loopback(endpoint.hostname or ""):
                raise ConfigurationError(
                    "MINIMAKER_BLOB_URL endpoint= is plain http off loopback: use https://"
                )
        return value or None

    @model_validator(mode="after")
    def _keys_come_in_pairs(self) -> BlobStoreSettings:
        if (self.s3_access_key is None) != (self.s3_secret_key is None):
            raise ValueError("set both s3_access_key and s3_secret_key, or neither")
        return self
