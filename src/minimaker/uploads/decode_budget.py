"""The process-wide decode budget: how much memory images being decoded at once may take.

Policy 3.6 (protection against loss or damage): a 170 KB PNG can claim 6300 x 6300 RGBA,
159 MB decoded; eight of them at once took a server from 476 to 1,534 MB. Every decode in
the process (uploads on the API's threads, generation on the worker's) holds its share of
one budget while its pixels exist, so their sum stays bounded whatever arrives at once.

A caller waits a bounded time for room rather than failing at once: a decode takes well
under a second, so a short burst is absorbed instead of refused; an unbounded wait would
pile up threads, each holding a request body of up to max_upload_bytes. After the wait it
gets DecodeBusy (503, Retry-After: the mean time a decode held the budget lately).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from minimaker.kernel.errors import DecodeBusy


class DecodeBudget:
    """Bytes of decoded pixels held at once, bounded by the capacity each caller names."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_use = 0
        self._holds: deque[float] = deque(maxlen=32)
        #: The most bytes ever held at once (tests and benchmarks read it).
        self.high_water = 0

    @property
    def in_use(self) -> int:
        with self._cond:
            return self._in_use

    @contextmanager
    def hold(self, cost: int, *, capacity: int, wait_s: float) -> Iterator[None]:
        """Hold `cost` bytes of the budget for the block; DecodeBusy after `wait_s` seconds."""
        # One image larger than the whole budget still runs, alone: the per-image limit
        # (max_image_decoded_bytes) is what refuses images too large to decode at all.
        cost = max(0, min(cost, capacity))
        self._acquire(cost, capacity, wait_s)
        started = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                self._in_use -= cost
                self._holds.append(time.monotonic() - started)
                self._cond.notify_all()

    def _acquire(self, cost: int, capacity: int, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        with self._cond:
            while self._in_use + cost > capacity:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DecodeBusy(self._retry_after_s())
                self._cond.wait(left)
            self._in_use += cost
            self.high_water = max(self.high_water, self._in_use)

    def _retry_after_s(self) -> int:
        """Seconds until room is likely: the mean recent hold, at least one second."""
        if not self._holds:
            return 1
        return max(1, math.ceil(sum(self._holds) / len(self._holds)))


#: The one budget of this process: the API's upload threads and the embedded worker share it.
DECODE_BUDGET = DecodeBudget()
