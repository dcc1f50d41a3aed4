"""Generation jobs per minute with 1 vs 2 `minimaker worker` processes (bench_fleet's last
part): --jobs models requested at once through the API, timed from the first request to the
moment the last is seen done; jobs run in queue order, so the oldest unfinished one is polled.

Not run alone: `python bench/bench_fleet.py --phases jobs` runs only this part.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from tests.fleet import Fleet

from fleet_load import load, meter, scale

POLL_S = 0.2
TIMEOUT_S = 1800.0


class GenerationFailed(Exception):
    pass


@dataclass
class JobRates:
    """Per worker count: (seconds, cores-used line, cores the workers used)."""

    jobs: int
    found: dict[int, tuple[float, str, float]] = field(default_factory=dict)

    def per_minute(self, workers: int) -> float:
        return self.jobs / self.found[workers][0] * 60

    def report(self) -> None:
        print(f"\nGeneration, {self.jobs} models per side, grid cap 512 (the default), 1 API")
        for workers, (seconds, cpu, cores) in self.found.items():
            rate = self.per_minute(workers)
            per_core = self.jobs / (seconds * cores) * 60
            print(f"  {workers} worker(s): {seconds:6.1f} s, {rate:6.1f} jobs/min, ", end="")
            print(f"{per_core:.1f} per worker core-minute (workers got {cores:.2f} cores)")
            print(f"    {cpu}")
        print(f"  ratio 2 workers / 1: {self.per_minute(2) / self.per_minute(1):.2f}x")


def _generate(base: str, pairs: list[tuple[str, str]]) -> float:
    """Request a model of each (token, upload id); seconds until all are done."""
    started = time.monotonic()
    made = []
    for token, upload_id in pairs:
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.post(
            f"{base}/api/v1/uploads/{upload_id}/models", headers=headers, timeout=60
        )
        answer.raise_for_status()
        made.append((headers, answer.json()["id"]))
    for headers, model_id in made:
        while True:
            status = httpx.get(
                f"{base}/api/v1/models/{model_id}", headers=headers, timeout=60
            ).json()["status"]
            if status == "done":
                break
            if status == "failed" or time.monotonic() - started > TIMEOUT_S:
                raise GenerationFailed(f"a generation ended {status}")
            time.sleep(POLL_S)
    return time.monotonic() - started


def generation_rates(f: Fleet, uploads: list[tuple[str, str]], jobs: int) -> JobRates:
    """`jobs` generations with 1 worker, then `jobs` more with 2, one API serving."""
    rates = JobRates(jobs)
    scale(f.apis, 1)
    for n in (1, 2):
        scale(f.workers, n)
        pairs = [uploads[i % len(uploads)] for i in range(jobs)]
        with meter(f) as cpu:
            try:
                seconds = _generate(f.bases[0], pairs)
            except GenerationFailed as exc:  # the fleet's folder goes at the end: say why now
                failed = [line for line in f.logs().splitlines() if b"failed" in line]
                raise SystemExit(f"{exc}; workers said: {failed[-5:]}") from None
        rates.found[n] = (seconds, cpu.line(), cpu.cores("worker"))
        print(f"  generation, {n} worker(s): {jobs / seconds * 60:.1f} jobs/min  load {load()}")
    return rates
