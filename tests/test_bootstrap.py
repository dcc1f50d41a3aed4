"""The composition root: every request type has its fulfiller, every job kind its handler,
every worker every duty — read from the one table, not from whatever happens to be imported."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from minimaker import bootstrap
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.kernel.registry import Registries
from minimaker.rights.rules import RequestType


def test_every_request_type_has_a_fulfiller() -> None:
    assert set(bootstrap.registries().fulfillers) == {t.value for t in RequestType}


def test_a_type_nobody_fulfils_is_named_in_the_error() -> None:
    with pytest.raises(LookupError, match="erasure"):
        Registries().fulfiller("erasure")


def test_a_default_worker_runs_generation_fulfilment_and_every_periodic_duty(
    container: Container,
) -> None:
    assert set(Worker(container).handlers) == {"generate_model", "fulfil_request"}
    assert set(container.registries.duties) == {
        "deliver_outbox",
        "retention",
        "alert_overdue",
        "close_unconfirmed",
        "sweep_strays",
        "anchor_audit",
        "notify_policy_change",
        "admit_corpus_batch",
        "publish_analytics",
        "selfcheck",
        "detect",
    }
    assert set(Worker(container).run_duties()) == set(container.registries.duties)


def test_the_duties_that_sweep_a_whole_store_keep_their_own_interval_across_the_fleet(
    container: Container,
) -> None:
    worker = Worker(container)
    settings = container.settings
    assert dict(container.registries.intervals) == {
        "retention": "retention_interval_s",
        "sweep_strays": "sweep_interval_s",
        "selfcheck": "selfcheck_interval_s",
    }
    assert worker.every_s("sweep_strays") == max(settings.periodic_s, settings.sweep_interval_s)
    assert worker.every_s("deliver_outbox") == settings.periodic_s


def test_an_interval_for_a_duty_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="intervals of no duty: nightly"):
        Registries(duties={}, intervals={"nightly": "sweep_interval_s"})


def test_one_failing_duty_does_not_stop_the_others(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken(c: Container) -> int:
        raise RuntimeError("boom")

    def fine(c: Container) -> int:
        ran.append("fine")
        return 3

    registries = Registries(duties={"a_broken": broken, "b_fine": fine})
    with caplog.at_level(logging.ERROR):
        assert registries.run_duties(container) == {"a_broken": -1, "b_fine": 3}
    assert ran == ["fine"]
    assert "a_broken failed: RuntimeError" in caplog.text


def test_nothing_registers_itself_on_import() -> None:
    src = Path(bootstrap.__file__).parent
    offenders = [
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if any(line.startswith(("@register(", "@duty(")) for line in p.read_text().splitlines())
    ]
    assert offenders == []
