"""Every request type is fulfilled by some module, and every worker runs every duty."""

from __future__ import annotations

from minimaker.entrypoints.worker import default_handlers
from minimaker.kernel import duties as periodic
from minimaker.rights import fulfilment


def test_every_request_type_has_a_fulfiller() -> None:
    assert fulfilment.missing() == []


def test_a_default_worker_runs_generation_fulfilment_and_every_periodic_duty() -> None:
    handlers = default_handlers()
    assert set(handlers) == {"generate_model", "fulfil_request"}
    assert {"deliver_outbox", "expire_archives", "alert_overdue", "close_unconfirmed"} <= set(
        periodic.DUTIES
    )
