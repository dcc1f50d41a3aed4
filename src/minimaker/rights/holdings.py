"""What MiniMaker holds about one subject, counted for the subject's own privacy centre.

What is counted, and as what, is the personal-data registry's (`count` of a declaration).
"""

from __future__ import annotations

from dataclasses import dataclass

from minimaker.kernel.container import Container
from minimaker.rights import owned_rows


@dataclass(frozen=True)
class Held:
    """How many of one kind of thing is kept about the subject (Art. 15(1)): "2 photos"."""

    count: int
    noun: str  # already in the number the count asks for


def held_about(c: Container, *, user_id: str) -> tuple[Held, ...]:
    """Counts of the subject's rows of every counted table, in the registry's order."""
    counted = c.personal_data.counted()
    with c.uow(write=False) as uow:
        numbers = [
            d.counter(uow, user_id)
            if d.counter is not None
            else int(uow.session.scalar(owned_rows.count(d, user_id)) or 0)
            for d in counted
        ]
    return tuple(Held(n, d.count.of(n)) for d, n in zip(counted, numbers, strict=True) if d.count)
