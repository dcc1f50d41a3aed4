"""One UTC day's usage aggregates, k-suppressed and noised with OpenDP (policy 4.2, 7.3).

Per event type: distinct people (a day's pseudonyms are one per person) and events, each
person's events clamped to `cap`. A cell of fewer than `k` true people is not published; the
rest get discrete Laplace noise calibrated by OpenDP to the honest L1 sensitivity (one person
can be in every event type's cell, with up to `cap` events in each), and are then floored at
`k`: post-processing, so the guarantee holds and two publications of a day have the same cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import opendp.prelude as dp

from minimaker.analytics import rules
from minimaker.analytics.rules import Cell
from minimaker.generation import usage
from minimaker.kernel.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Noise:
    """The declared noise of one publication: its mechanism, scales and the epsilon spent."""

    mechanism: str
    people_scale: float
    events_scale: float
    #: What OpenDP's privacy maps give for the declared sensitivities, summed (sequential
    #: composition of pure DP); 0 when no cell is released.
    epsilon: float


@dataclass(frozen=True)
class Aggregates:
    """What one publication of a day releases, and how."""

    day: date
    rows: list[dict[str, Any]]
    suppressed: int
    noise: Noise
    k: int
    cap: int


def _space() -> tuple[Any, Any]:
    # Enabled where used, not at import: "contrib" is OpenDP's opt-in for its vetted-but-not-
    # yet-proven-in-Lean mechanisms, which is what make_laplace on integers is.
    dp.enable_features("contrib")
    return dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)


def measurement(scale: float) -> Any:
    """OpenDP's discrete Laplace on an integer vector with L1 distance, at `scale`."""
    return dp.m.make_laplace(*_space(), scale=scale)


def calibrate(epsilon: float, *, cap: int, types: int) -> Noise:
    """Scales spending `epsilon` in all, half on the people vector, half on the events."""
    d_people, d_events = rules.sensitivities(cap=cap, types=types)
    half = epsilon / 2
    people = dp.binary_search_param(measurement, d_in=d_people, d_out=half)
    events = dp.binary_search_param(measurement, d_in=d_events, d_out=half)
    spent = float(measurement(people).map(d_people)) + float(measurement(events).map(d_events))
    return Noise(rules.MECHANISM, float(people), float(events), spent)


def true_cells(uow: UnitOfWork, day: date, *, cap: int, types: Sequence[str]) -> list[Cell]:
    """The day's true cells of the public event types (each person's events clamped)."""
    counted = {e: (p, n) for e, p, n in usage.day_counts(uow, day, cap=cap)}
    return [Cell(e, *counted[e]) for e in types if e in counted]


def release(
    cells: list[Cell],
    *,
    day: date,
    k: int,
    cap: int,
    epsilon: float,
    types: Sequence[str],
) -> Aggregates:
    """Suppress the cells below `k`, noise the rest, floor every value at `k`."""
    keep, suppressed = rules.kept(cells, k=k)
    noise = calibrate(epsilon, cap=cap, types=len(types))
    if not keep:
        # Nothing noisy leaves, so nothing is spent; the scales still say what would have.
        return Aggregates(day, [], suppressed, _unspent(noise), k, cap)
    people = measurement(noise.people_scale)([c.people for c in keep])
    events = measurement(noise.events_scale)([c.events for c in keep])
    rows = [
        {
            "day": day.isoformat(),
            "event": cell.event,
            "people": rules.floor_at(p, k),
            "events": rules.floor_at(n, k),
            "mechanism": noise.mechanism,
            "people_noise_scale": noise.people_scale,
            "events_noise_scale": noise.events_scale,
        }
        for cell, p, n in zip(keep, people, events, strict=True)
    ]
    return Aggregates(day, rows, suppressed, noise, k, cap)


def _unspent(noise: Noise) -> Noise:
    return Noise(noise.mechanism, noise.people_scale, noise.events_scale, 0.0)


def aggregate_day(
    uow: UnitOfWork,
    day: date,
    *,
    k: int,
    cap: int,
    epsilon: float,
    types: Sequence[str] = rules.PUBLISHED_EVENTS,
) -> Aggregates:
    """The day's publishable aggregates, computed in the caller's (read) unit."""
    cells = true_cells(uow, day, cap=cap, types=types)
    return release(cells, day=day, k=k, cap=cap, epsilon=epsilon, types=types)
