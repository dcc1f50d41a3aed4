"""Anonymisation throughput: 1024 px photos per second on one core, and with two workers.

    .venv/bin/python bench/bench_anonymise.py [--seconds 10]

Each worker is a process with one thread (the detector is pinned to one core, as in the
service), anonymising the astronaut sample scaled to 1024 x 1024 (one face, so detection and
hiding both run). Prints one line per setting and the ratio of the two.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _photo() -> bytes:
    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((1024, 1024)).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _run(seconds: float) -> int:
    """Photos anonymised in `seconds` (after one warm-up that loads the detector)."""
    from minimaker.corpus import anonymise

    photo = _photo()
    anonymise.anonymise_photo(photo)
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        anonymise.anonymise_photo(photo)
        done += 1
    return done


def _rate(workers: int, seconds: float) -> float:
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        counts = pool.map(_run, [seconds] * workers)
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    one = _rate(1, args.seconds)
    print(f"anonymise 1024px, 1 worker: {one:.1f} photos/s (target >= 10)")
    two = _rate(2, args.seconds)
    print(f"anonymise 1024px, 2 workers: {two:.1f} photos/s ({two / one:.2f}x one worker)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
