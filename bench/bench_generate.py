"""Time photo -> relief mesh -> file bytes on a synthetic photo; target: 1024 x 1024 in <= 2 s.

Run: .venv/bin/python bench/bench_generate.py   (exit status 1 if the target is missed)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL
import trimesh
from PIL import Image

from minimaker.generation.export import FORMATS, export_mesh
from minimaker.generation.relief import ReliefParams, relief_from_image

TARGET_S = 2.0
REPEATS = 3


def synthetic_photo(width: int, height: int, seed: int = 2024) -> Image.Image:
    """Photo-like RGB: smooth gradients, a few soft blobs and sensor-like noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width] / max(width, height)
    channels = []
    for _ in range(3):
        base = 90 + 80 * xs + 50 * np.sin(6 * ys + rng.uniform(0, np.pi))
        for _ in range(6):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
            base += rng.uniform(-60, 60) * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / r**2)
        channels.append(base + rng.normal(0, 6, size=base.shape))
    pixels = np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def best_of(repeats: int, action: Callable[[], object]) -> float:
    """Fastest wall time of `repeats` runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_machine() -> None:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"platform : {platform.platform()}")
    print(f"cpu      : {cpu_model()} ({os.cpu_count()} cores, {usable} usable)")
    print(f"python   : {sys.version.split()[0]} ({platform.python_implementation()})")
    versions = f"numpy {np.__version__}, Pillow {PIL.__version__}, trimesh {trimesh.__version__}"
    print(f"libs     : {versions}")
    print()


def bench_relief() -> float:
    """Print relief timings; return the 1024 x 1024 time."""
    cases = [
        ("512 x 512 photo, grid 512", (512, 512), 512),
        ("1024 x 1024 photo, grid 1024", (1024, 1024), 1024),
        ("4000 x 3000 photo, grid 512", (4000, 3000), 512),
        ("4000 x 3000 photo, grid 1024", (4000, 3000), 1024),
    ]
    print(f"{'relief_from_image':<34}{'faces':>10}{'best of 3':>12}")
    result = 0.0
    for label, size, resolution in cases:
        photo = synthetic_photo(*size)
        params = ReliefParams(max_resolution=resolution)
        faces = len(relief_from_image(photo, params).faces)  # also warms up
        seconds = best_of(REPEATS, lambda p=photo, q=params: relief_from_image(p, q))
        print(f"{label:<34}{faces:>10,}{seconds:>11.3f}s")
        if size == (1024, 1024):
            result = seconds
    print()
    return result


def bench_export(grid: int) -> None:
    params = ReliefParams(max_resolution=grid)
    mesh = relief_from_image(synthetic_photo(grid, grid), params)
    print(f"{f'export_mesh at {grid} x {grid}':<34}{'size':>10}{'best of 3':>12}")
    for fmt in FORMATS:
        size_mb = len(export_mesh(mesh, fmt)) / 1e6
        seconds = best_of(REPEATS, lambda f=fmt: export_mesh(mesh, f))
        print(f"{fmt:<34}{size_mb:>8.1f}MB{seconds:>11.3f}s")
    print()


def main() -> int:
    print_machine()
    relief_1024 = bench_relief()
    bench_export(512)  # the default grid
    bench_export(1024)
    verdict = "met" if relief_1024 <= TARGET_S else "MISSED"
    print(f"target 1024 x 1024 relief <= {TARGET_S:.1f} s: {verdict} ({relief_1024:.3f} s)")
    return 0 if relief_1024 <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
