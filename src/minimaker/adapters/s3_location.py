"""Where an S3 blob store is: `s3://bucket/prefix?endpoint=...&region=...`, checked once.

Parsed when the settings are read (settings_blobs.py), so a mistyped bucket, endpoint or region
stops the start instead of the first upload. No I/O here, and no credentials: they come from
their own settings (or the standard AWS environment), never from the URL, which may be logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from minimaker.kernel.errors import ConfigurationError

# S3's bucket naming rules (3-63 lowercase letters, digits, dots, hyphens; a letter or digit
# at each end); dots are refused too, as they break TLS for virtual-hosted addressing.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
# A region names one of the policy file's `regions` too (settings.REGION_NAME), as that is
# what the residency rules check: `eu-central-1`, or any name an S3-compatible store accepts.
_REGION = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_PARAMETERS = frozenset({"endpoint", "region"})


@dataclass(frozen=True)
class S3Location:
    """A bucket, the key prefix of our blobs in it, its region and (if not AWS) its endpoint."""

    bucket: str
    prefix: str  # "" or segments joined by "/", without leading or trailing "/"
    region: str
    endpoint: str | None = None  # None: AWS's own endpoint of the region

    def key(self, blob_id: str) -> str:
        """The object key of a blob id (validated by the caller)."""
        return f"{self.prefix}/{blob_id}" if self.prefix else blob_id

    @property
    def key_prefix(self) -> str:
        """What every key of ours starts with: listings ask for it."""
        return f"{self.prefix}/" if self.prefix else ""

    @classmethod
    def from_url(cls, url: str) -> S3Location:
        """Parse and check MINIMAKER_BLOB_URL; ConfigurationError saying what is wrong."""
        parts = urlsplit(url)
        if parts.scheme != "s3":
            raise _refused("must start with s3://")
        if "@" in parts.netloc:
            raise _refused("holds no credentials: set MINIMAKER_S3_ACCESS_KEY and _SECRET_KEY")
        if not _BUCKET.fullmatch(parts.netloc):
            raise _refused("the bucket must be 3-63 lowercase letters, digits or hyphens")
        segments = [s for s in parts.path.split("/") if s]
        if any(not _SEGMENT.fullmatch(s) or s in (".", "..") for s in segments):
            raise _refused("the prefix must be path segments of letters, digits, '.', '_', '-'")
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError:
            raise _refused("has a malformed query (endpoint=...&region=...)") from None
        unknown = sorted(set(query) - _PARAMETERS)
        if unknown or any(len(values) != 1 for values in query.values()):
            raise _refused("takes endpoint= and region=, each once")
        region = query.get("region", [""])[0]
        if not _REGION.fullmatch(region):
            raise _refused("needs region=<the bucket's region, as the policy file names it>")
        endpoint = query.get("endpoint", [None])[0]
        return cls(parts.netloc, "/".join(segments), region, _checked_endpoint(endpoint))


def _checked_endpoint(endpoint: str | None) -> str | None:
    if endpoint is None:
        return None
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018  # a port out of range or not a number raises here
    except ValueError:
        raise _refused("endpoint= is not a valid address") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refused("endpoint= must be an http:// or https:// address")
    if parts.username or parts.password or parts.path.strip("/") or parts.query:
        raise _refused("endpoint= is a scheme, host and port only")
    return f"{parts.scheme}://{parts.netloc}"


def _refused(reason: str) -> ConfigurationError:
    # The URL itself is not echoed: only what is wrong with it.
    return ConfigurationError(f"MINIMAKER_BLOB_URL {reason}")
