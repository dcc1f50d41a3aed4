"""Peak memory of generating the largest model the default limits allow, vs a baseline.

Each case runs in a fresh subprocess and reports its peak RSS (VmHWM, as ru_maxrss):
- baseline: import the generation code and decode the largest photo intake accepts
  (max_image_decoded_bytes of RGB) under the decode budget, as an upload does;
- largest allowed: the same photo, then the job's own steps (luminance grid in the decode
  budget, relief mesh, each format streamed encrypted into a local blob store) at the
  highest max_resolution whose estimate fits max_model_bytes;
- uncapped 2048 (for reference; refused by default now): an 8.5 KB-class flat PNG at grid
  2048, the case that took 2.5-3.4 GB before the exports streamed;
- eight uploads of the largest photo at once (eight threads through intake, as the API's
  thread pool runs them): the decode budget lets only as many decode as fit in it.

Run: .venv/bin/python bench/bench_generation_memory.py
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe
from minimaker.generation.rules import model_bytes
from minimaker.settings import Settings

CHILD = r"""
import io, json, resource, sys, time
from PIL import Image
from minimaker.adapters.blobs import EncryptedBlobs, LocalBlobStore
from minimaker.adapters.crypto.keys import generate_key
from minimaker.generation.export import FORMATS, BlockReader, iter_export
from minimaker.generation.relief import ReliefParams, luminance_grid, relief_from_luminance
from minimaker.settings import Settings
from minimaker.uploads import intake

case, photo, resolution, blob_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(photo, "rb") as f:
    data = f.read()
limits = intake.DecodeLimits.of(Settings())
start = time.perf_counter()
files = {}
if case == "baseline":
    intake.inspect(data, limits)
elif case == "eight":
    import threading
    threads = [threading.Thread(target=intake.inspect, args=(data, limits)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
else:
    with Image.open(io.BytesIO(data)) as img:
        with intake.decoding(img, limits):
            lum = luminance_grid(img, resolution)
            img.close()
    mesh = relief_from_luminance(lum, ReliefParams(max_resolution=resolution))
    blobs, dek = EncryptedBlobs(LocalBlobStore(blob_dir)), generate_key()
    for fmt in FORMATS:
        files[fmt] = blobs.put(dek, BlockReader(iter_export(mesh, fmt))).plaintext_size
# VmHWM: this process image's own peak (ru_maxrss would carry the forking parent's peak
# across exec); the two agree when the parent is small
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
peak_mib = int(hwm[0].split()[1]) / 1024 if hwm else (
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps({"peak_mib": peak_mib, "photo_bytes": len(data), "files": files,
                  "seconds": time.perf_counter() - start}))
"""


def write_photo(folder: Path, side: int, *, flat: bool) -> Path:
    """A gradient RGB photo (or a flat grey one, which compresses to a few KB) as PNG."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) / side
    if flat:
        img = Image.new("L", (side, side), 120)
    else:
        rgb = np.stack([xs * 255, ys * 255, (xs + ys) * 127], axis=-1).astype(np.uint8)
        img = Image.fromarray(rgb)
    path = folder / f"{'flat' if flat else 'photo'}-{side}.png"
    img.save(path, "PNG")
    return path


def run(case: str, photo: Path, resolution: int, **env: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as blob_dir:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, case, str(photo), str(resolution), blob_dir],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def largest_allowed(settings: Settings) -> tuple[int, int]:
    """The largest square RGB photo intake accepts, and the top resolution under the cap."""
    side = math.isqrt(settings.max_image_decoded_bytes // 4)
    side = min(side, settings.max_image_side, math.isqrt(settings.max_image_pixels))
    resolution = max(
        r for r in range(2, 2049) if model_bytes(side, side, r) <= settings.max_model_bytes
    )
    return side, resolution


def main() -> int:
    settings = Settings()
    side, resolution = largest_allowed(settings)
    print(describe())
    print(
        f"limits: max_model_bytes {settings.max_model_bytes / 2**20:.0f} MiB, "
        f"max_image_decoded_bytes {settings.max_image_decoded_bytes / 2**20:.0f} MiB "
        f"-> photo {side} x {side} RGB, grid {resolution}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        photo = write_photo(Path(folder), side, flat=False)
        flat_photo = write_photo(Path(folder), 2048, flat=True)
        base = run("baseline", photo, resolution)
        big = run("largest", photo, resolution)
        flat = run("flat", flat_photo, 2048)
        eight = run("eight", photo, resolution)
        # the same with the budget out of the way: what the budget saves
        unbounded = run("eight", photo, resolution, MINIMAKER_DECODE_BUDGET_BYTES=str(10**12))
        print(
            f"photo PNG {photo.stat().st_size / 2**20:.1f} MiB, flat PNG "
            f"{flat_photo.stat().st_size / 1024:.1f} KiB"
        )
    for label, r in (
        ("baseline: import + decode the photo", base),
        (f"largest allowed model (grid {resolution})", big),
        ("uncapped grid 2048, flat 2048^2 PNG", flat),
        ("eight uploads of the photo at once", eight),
        ("the same, decode budget unbounded", unbounded),
    ):
        files = r["files"]
        assert isinstance(files, dict)
        model_mib = sum(files.values()) / 2**20
        print(
            f"{label:<42} peak RSS {r['peak_mib']:8.1f} MiB   model files {model_mib:7.1f} MiB"
            f"   {r['seconds']:.1f} s"
        )
    ratio = float(big["peak_mib"]) / float(base["peak_mib"])  # type: ignore[arg-type]
    extra = float(big["peak_mib"]) - float(base["peak_mib"])  # type: ignore[arg-type]
    print(f"largest allowed / baseline: {ratio:.2f}x (+{extra:.0f} MiB)")
    print(f"(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
