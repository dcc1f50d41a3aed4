"""Usage rows of many people, made the way the product makes them (`usage.record`)."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from minimaker.analytics.tables import Publication
from minimaker.generation import usage
from minimaker.kernel.container import Container

EVENT = "model.generated"
#: How unlikely a test about noise may fail by chance alone.
FAILURE = 1e-9


def people(c: Container, n: int, *, each: int, on: date, event: str = EVENT) -> list[str]:
    """`n` people (fresh subject ids) with `each` events of `event` on `on`; their ids."""
    ids = [uuid.uuid4().hex for _ in range(n)]
    at = datetime.combine(on, time(13, 5), tzinfo=c.clock.now().tzinfo)
    with c.uow() as uow:
        for subject_id in ids:
            for _ in range(each):
                usage.record(uow, subject_id=subject_id, event=event, at=at)
        uow.commit()
    return ids


def yesterday(c: Container, days: int = 1) -> date:
    return (c.clock.now() - timedelta(days=days)).date()


def with_url(c: Container, url: str | None, **more: Any) -> None:
    c.settings = c.settings.model_copy(update={"analytics_url": url, **more})


def publications(c: Container) -> list[Publication]:
    with c.sessions() as s:
        return list(s.scalars(select(Publication).order_by(Publication.id)))


def tail_bound(scale: float, values: int) -> float:
    """A t with P(|Z| >= t) <= FAILURE / values for discrete Laplace noise Z of `scale`.

    P(Z = z) = (1 - a) / (1 + a) * a**|z| with a = exp(-1/scale), so for t >= 1
    P(|Z| >= t) = 2 a**t / (1 + a) <= 2 exp(-t / scale); the union over `values` noisy
    values is below FAILURE once t >= scale * ln(2 * values / FAILURE).
    """
    return scale * math.log(2 * values / FAILURE)
