"""Run every benchmark in turn; each prints its own ratios and the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = [
    "bench_crypto.py",
    "bench_generate.py",
    "bench_generation_memory.py",
    "bench_audit.py",
    "bench_api.py",
    "bench_erasure.py",
    "bench_access_archive.py",
    "bench_metadata.py",
    "bench_retention.py",
    "bench_anonymise.py",
    "bench_scope.py",
    "bench_s3.py",
    "bench_fleet.py",
    "bench_quality.py",
]


def main() -> int:
    failed = 0
    for name in BENCHES:
        print(f"\n=== {name} ===", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name)], env=os.environ.copy())
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
