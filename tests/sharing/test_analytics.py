"""The analytics provider receives anonymised aggregates only, over a real loopback HTTP POST."""

from __future__ import annotations

import json

import pytest

from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from minimaker.sharing import analytics, events
from minimaker.sharing.rules import PayloadRefused
from tests.provider import Provider
from tests.sharing.archive import audit, disclosures, subject

ROWS = [{"day": "2026-06-01", "event": "model.generated", "count": 12}]


def _at(c: Container, url: str | None) -> None:
    c.settings = c.settings.model_copy(update={"analytics_url": url})


def test_the_provider_receives_exactly_the_aggregates_and_no_subject_id(
    container: Container, provider: Provider
) -> None:
    ada = subject(container)
    url, got = provider.url, provider.got
    _at(container, url)
    result = analytics.publish_aggregates(container, ROWS, actor=SYSTEM_CLI)
    assert result.sent and got == [ROWS] and ada not in json.dumps(got)
    assert disclosures(container) == []  # aggregates concern no subject
    assert audit(container, str(events.AGGREGATES_PUBLISHED)) == [
        (None, "processor:analytics-provider:rows:1", "analytics")
    ]


def test_rows_naming_a_subject_never_reach_the_provider(
    container: Container, provider: Provider
) -> None:
    ada = subject(container)
    url, got = provider.url, provider.got
    _at(container, url)
    with pytest.raises(PayloadRefused):
        analytics.publish_aggregates(container, [{"user_id": ada, "count": 1}], actor=SYSTEM_CLI)
    assert got == [] and audit(container, str(events.AGGREGATES_PUBLISHED)) == []


def test_without_an_analytics_url_nothing_is_sent_and_it_says_so(container: Container) -> None:
    result = analytics.publish_aggregates(container, ROWS, actor=SYSTEM_CLI)
    assert not result.sent and "not set" in result.note
    assert audit(container, str(events.AGGREGATES_PUBLISHED)) == []


@pytest.mark.parametrize("url", ["http://analytics.example.org/in", "ftp://127.0.0.1/x"])
def test_an_analytics_url_that_is_not_https_off_loopback_is_refused(
    container: Container, url: str
) -> None:
    _at(container, url)
    with pytest.raises(ConfigurationError):
        analytics.publish_aggregates(container, ROWS, actor=SYSTEM_CLI)


def test_a_provider_that_is_down_is_a_clear_error_and_nothing_is_recorded(
    container: Container,
) -> None:
    _at(container, "http://127.0.0.1:9/ingest")
    with pytest.raises(analytics.AnalyticsDeliveryFailed):
        analytics.publish_aggregates(container, ROWS, actor=SYSTEM_CLI)
    assert audit(container, str(events.AGGREGATES_PUBLISHED)) == []
