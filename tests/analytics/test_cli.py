"""`minimaker analytics publish --day` and `publications` as an operator types them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from minimaker.entrypoints.cli import app
from minimaker.kernel.container import Container
from minimaker.settings import Settings
from tests.analytics.world import people, publications, yesterday
from tests.processes import process_env
from tests.provider import Provider


def _cli(settings: Settings, *args: str, url: str | None = None) -> tuple[int, str]:
    more = {"MINIMAKER_ANALYTICS_URL": url} if url else {}
    done = CliRunner().invoke(app, list(args), env=process_env(settings, **more))
    crashed = "" if isinstance(done.exception, SystemExit | None) else repr(done.exception)
    return done.exit_code, " ".join(done.output.split()) + crashed


def test_a_day_is_published_and_listed_with_what_it_spent(
    settings: Settings, container: Container, provider: Provider
) -> None:
    day = yesterday(container)
    people(container, 12, each=3, on=day)
    code, out = _cli(settings, "analytics", "publish", "--day", day.isoformat(), url=provider.url)
    assert code == 0, out
    assert f"of {day.isoformat()}: sent; 1 row(s), 0 suppressed; epsilon 1" in out
    assert "(day: 1 of 3)" in out and len(provider.got) == 1
    code, out = _cli(settings, "analytics", "publications")
    assert code == 0, out
    assert day.isoformat() in out and "opendp.discrete_laplace" in out and " yes " in out


def _day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("2026-13-01", "a day is written YYYY-MM-DD"),
        ("yesterday", "a day is written YYYY-MM-DD"),
        ("2026-6-1", "a day is written YYYY-MM-DD"),
        ("2026-06-01T00:00", "a day is written YYYY-MM-DD"),
        ("9" * 200, "a day is written YYYY-MM-DD"),
        ("tomorrow+1", "a day is written YYYY-MM-DD"),
    ],
)
def test_a_malformed_day_is_one_clear_error_and_publishes_nothing(
    settings: Settings, container: Container, provider: Provider, day: str, message: str
) -> None:
    code, out = _cli(settings, "analytics", "publish", "--day", day, url=provider.url)
    assert code == 2 and message in out, out
    assert provider.got == [] and publications(container) == []


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (1, "the day is not over yet"),
        (0, "the day is not over yet"),
        (-90, "kept 90 days"),
        (-400, "kept 90 days"),
    ],
)
def test_a_day_not_over_or_past_retention_is_refused_and_publishes_nothing(
    settings: Settings, container: Container, provider: Provider, offset: int, message: str
) -> None:
    people(container, 12, each=1, on=date.today() + timedelta(days=offset))
    code, out = _cli(settings, "analytics", "publish", "--day", _day(offset), url=provider.url)
    assert code == 2 and message in out, out
    assert provider.got == [] and publications(container) == []


def test_without_an_analytics_url_publish_is_a_clear_error_and_spends_nothing(
    settings: Settings, container: Container
) -> None:
    people(container, 12, each=1, on=yesterday(container))
    code, out = _cli(settings, "analytics", "publish", "--day", yesterday(container).isoformat())
    assert code == 2 and "MINIMAKER_ANALYTICS_URL is not set" in out, out
    assert publications(container) == []


def test_the_budget_refusal_is_a_clear_error(
    settings: Settings, container: Container, provider: Provider
) -> None:
    day = yesterday(container).isoformat()
    people(container, 12, each=1, on=yesterday(container))
    for _ in range(3):
        assert _cli(settings, "analytics", "publish", "--day", day, url=provider.url)[0] == 0
    code, out = _cli(settings, "analytics", "publish", "--day", day, url=provider.url)
    assert code == 2 and "budget is 3" in out and "nothing was sent" in out, out
    assert len(provider.got) == 3


@pytest.mark.parametrize("args", [("publish",), ("publications", "--limit", "0")])
def test_missing_or_out_of_range_options_are_refused(
    settings: Settings, container: Container, args: tuple[str, ...]
) -> None:
    code, _ = _cli(settings, "analytics", *args)
    assert code != 0 and publications(container) == []
