"""The analytics provider (policy 4.2, 7.3): anonymised aggregates only, POSTed as JSON.

Issue 10 produces the aggregates (k-anonymity, noise) and calls `publish_aggregates`; this
module only carries them, through the sharing service, which refuses rows naming anyone.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError, MiniMakerError
from minimaker.kernel.purposes import Purpose
from minimaker.sharing import service
from minimaker.sharing.service import Share

log = logging.getLogger("minimaker.sharing")

#: The policy's processor entry for the analytics provider.
PROCESSOR = "analytics-provider"
CATEGORIES = ("usage_event",)
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class AnalyticsDeliveryFailed(MiniMakerError):
    """The provider did not take the aggregates; nothing was recorded as published."""

    status = 502
    code = "analytics_delivery_failed"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"analytics delivery failed: {reason}")


@dataclass(frozen=True)
class Published:
    """What `publish_aggregates` did: how many rows, and whether they left at all."""

    sent: bool
    rows: int
    note: str


def publish_aggregates(
    c: Container, rows: Sequence[Mapping[str, Any]], *, actor: Actor
) -> Published:
    """Send aggregate rows (e.g. `{day, event, count}`) to the analytics provider.

    The rows are cleared by the sharing service first, so rows naming a subject are refused
    even where nothing would be sent; without MINIMAKER_ANALYTICS_URL nothing leaves.
    """
    url = c.settings.analytics_url
    if url:
        _check_url(url)
    share = Share(PROCESSOR, Purpose.ANALYTICS, CATEGORIES, payload=[dict(r) for r in rows])
    with c.uow(write=False) as uow:
        cleared = service.clear(uow, share, actor=actor)
    if not url:
        note = "MINIMAKER_ANALYTICS_URL is not set: nothing was sent"
        log.info("%s (%d aggregate rows)", note, len(share.payload))
        return Published(sent=False, rows=len(share.payload), note=note)
    _post(url, cleared.payload, timeout_s=c.settings.analytics_timeout_s)
    with c.uow() as uow:
        service.record(uow, cleared, actor=actor)
        uow.commit()
    return Published(sent=True, rows=len(share.payload), note="sent")


def _check_url(url: str) -> None:
    # Error messages name the rule, never the URL: it may carry a token.
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError("analytics_url must be https://host/... (http:// on loopback)")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        # Policy 5.1: what leaves the machine goes encrypted in transit.
        raise ConfigurationError("analytics_url must use https:// unless it is on loopback")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET without its body, and a 200 from there
    # would look like delivery: a redirect is a failure, and nothing follows it elsewhere.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(url: str, payload: Any, *, timeout_s: float) -> None:
    """POST `payload` as JSON; AnalyticsDeliveryFailed with a safe reason unless 2xx."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s)
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise AnalyticsDeliveryFailed(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AnalyticsDeliveryFailed(type(exc).__name__) from None
    if not 200 <= status < 300:
        raise AnalyticsDeliveryFailed(f"HTTP {status}")
