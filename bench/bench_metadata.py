"""Cost of metadata minimization at intake: strip a photo against a bare read of its bytes,
with Pillow's full decode (which intake does anyway) for scale.

Run: python bench/bench_metadata.py [--side 3000] [--trials 7]

Fairness: the same in-memory bytes for every side; the bare read is one pass over them
(`bytes(memoryview)` copy, what any handler does at least once); best of --trials is reported.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from minimaker.uploads import metadata

EXIF = Image.Exif()
EXIF[0x0112], EXIF[0x010F], EXIF[0x0110] = 6, "Canon", "EOS R5"


def _photo(side: int, fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, side, dtype=np.float32)
    img = (base[None, :, None] + rng.normal(0, 12, (side * 3 // 4, side, 3))).clip(0, 255)
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, fmt, exif=EXIF.tobytes(), quality=90)
    return buf.getvalue()


def _best(fn: Callable[[], object], trials: int) -> float:
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        img.load()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", type=int, default=3000)
    parser.add_argument("--trials", type=int, default=7)
    args = parser.parse_args()
    for fmt, media_type in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")):
        data = _photo(args.side, fmt)
        bare = _best(lambda d=data: bytes(memoryview(d)), args.trials)
        strip = _best(lambda d=data, m=media_type: metadata.strip(d, m), args.trials)
        decode = _best(lambda d=data: _decode(d), args.trials)
        print(
            f"{fmt:5} {len(data) / 1e6:6.2f} MB  bare read {bare * 1e3:7.2f} ms  "
            f"strip {strip * 1e3:7.2f} ms ({strip / bare:5.1f}x bare)  "
            f"decode {decode * 1e3:7.1f} ms (strip = {strip / decode:.1%} of it)"
        )


if __name__ == "__main__":
    main()
