"""Cost of encryption at rest: encrypted blob ingest and read-back against a plain copy.

Run: python bench/bench_crypto.py [--mib 256] [--dir /tmp] [--profile]

Fairness, both sides of each ratio:
- read the same source file, written and fsynced first, then read once so it sits in the
  page cache for every trial (24 GiB RAM: 256 MiB stays cached);
- move data through a preallocated 1 MiB buffer with readinto/write, in 1 MiB steps;
- ingest writes through the same LocalBlobStore.open_write (temp file, fsync, os.replace,
  fsync of the directory); a second, no-fsync pair shows the CPU cost the disk otherwise hides;
- read-back reads a file just written (page cache) into the same discarding sink;
- trials alternate plain / encrypted, best of --trials is reported.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import cryptography
from cryptography.hazmat.backends.openssl import backend as openssl_backend
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from minimaker.adapters.blobs import EncryptedBlobs, LocalBlobStore, new_blob_id
from minimaker.adapters.crypto.stream import DEFAULT_CHUNK, encrypt_stream

MIB = 1 << 20
DEK = bytes(range(32))


class NullSink(io.RawIOBase):
    """A /dev/null-like writer: accepts every byte, keeps none, costs no syscall."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        return len(data)  # type: ignore[arg-type]


def plain_copy(src: BinaryIO, dst: BinaryIO) -> int:
    """The baseline: the best plain Python copy, readinto a reused 1 MiB buffer then write."""
    view = memoryview(bytearray(DEFAULT_CHUNK))
    total = 0
    while n := src.readinto(view):  # type: ignore[attr-defined]
        dst.write(view[:n])
        total += n
    return total


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def best_pair(
    trials: int,
    plain: Callable[[], object],
    encrypted: Callable[[], object],
    reset: Callable[[], object] = lambda: None,
) -> tuple[float, float]:
    """Best time of each side; trials alternate sides, reset runs untimed before each one."""
    plain_times, encrypted_times = [], []
    for _ in range(trials):
        reset()
        plain_times.append(timed(plain))
        reset()
        encrypted_times.append(timed(encrypted))
    return min(plain_times), min(encrypted_times)


def report(label: str, mib: int, plain_s: float, encrypted_s: float) -> None:
    ratio = encrypted_s / plain_s
    verdict = "meets" if ratio <= 1.2 else "MISSES"
    print(f"{label}")
    print(f"  plain      {mib / plain_s:8.0f} MiB/s  ({plain_s * 1000:7.1f} ms)")
    print(f"  encrypted  {mib / encrypted_s:8.0f} MiB/s  ({encrypted_s * 1000:7.1f} ms)")
    print(f"  ratio      {ratio:8.2f}x  ({verdict} the 1.2x target)")


def machine(work: Path) -> None:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "") + " "
    accel = [f for f in ("aes", "pclmulqdq", "vaes", "vpclmulqdq", "avx512f") if f" {f} " in flags]
    same_disk = os.stat(work).st_dev == os.stat(Path(__file__).resolve().parent).st_dev
    print(f"CPU         {model}; {os.cpu_count()} cores; AES-related flags: {' '.join(accel)}")
    print(f"Python      {platform.python_version()}")
    openssl = openssl_backend.openssl_version_text()
    print(f"crypto      cryptography {cryptography.__version__}, {openssl}")
    print(f"work dir    {work} (same filesystem as the repo: {'yes' if same_disk else 'no'})")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load avg    {load} (other work on the machine skews the ratios)")


def raw_aes_gcm(mib: int = 64, trials: int = 5) -> float:
    """In-memory AES-256-GCM encrypt_into on 1 MiB buffers: the ceiling of any encrypted path."""
    aead, nonce = AESGCM(os.urandom(32)), bytes(12)
    plain, sealed = bytearray(os.urandom(MIB)), bytearray(MIB + 16)

    def encrypt_all() -> None:
        for _ in range(mib):
            aead.encrypt_into(nonce, plain, b"", sealed)

    return mib / min(timed(encrypt_all) for _ in range(trials))


def write_source(path: Path, mib: int) -> None:
    with open(path, "wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MIB))
        out.flush()
        os.fsync(out.fileno())
    with open(path, "rb") as warm:
        plain_copy(warm, NullSink())  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="parent of the work dir (/tmp)")
    parser.add_argument("--profile", action="store_true", help="cProfile one encrypted read")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mm-bench-", dir=args.dir))
    try:
        run(work, args.mib, args.trials, args.profile)
    finally:
        shutil.rmtree(work)


def run(work: Path, mib: int, trials: int, profile: bool) -> None:
    machine(work)
    aes = raw_aes_gcm()
    print(f"payload     {mib} MiB random, chunk {DEFAULT_CHUNK // MIB} MiB, best of {trials}")
    print(f"AES-GCM     {aes:8.0f} MiB/s raw encrypt_into, one core, in memory\n")
    source = work / "source.bin"
    write_source(source, mib)
    blobs = EncryptedBlobs(LocalBlobStore(work / "blobs"))
    ids: dict[str, str] = {}
    label = "(a) ingest: source file -> blob store, fsync + atomic rename"
    report(label, mib, *bench_ingest(blobs, source, ids, trials))
    label = "(a') ingest without fsync: source file -> new plain file (CPU cost, page cache)"
    report(label, mib, *bench_ingest_nofsync(work, source, trials))
    plain_s, encrypted_s = bench_read_back(blobs, ids, trials)
    report("(b) read-back: blob file (page cache) -> discarding sink", mib, plain_s, encrypted_s)
    floor = 1 + (mib / plain_s) / aes
    print(f"  floor      {floor:8.2f}x  (1 + plain read rate / raw AES-GCM rate, for one core)")
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(blobs.read_into, DEK, ids["encrypted"], NullSink())
        pstats.Stats(profiler).sort_stats("tottime").print_stats(6)


def bench_ingest(
    blobs: EncryptedBlobs, source: Path, ids: dict[str, str], trials: int
) -> tuple[float, float]:
    """Plain copy into store.open_write vs EncryptedBlobs.put: same temp file, fsync, rename.

    Leaves one blob of each kind in ids for the read-back.
    """
    store = blobs.store

    def plain() -> None:
        ids["plain"] = new_blob_id()
        with open(source, "rb") as src, store.open_write(ids["plain"]) as dst:
            plain_copy(src, dst)

    def encrypted() -> None:
        with open(source, "rb") as src:
            ids["encrypted"] = blobs.put(DEK, src).blob_id

    def reset() -> None:  # disk use stays flat: each trial writes into an empty store
        for blob_id in ids.values():
            store.delete(blob_id)
        ids.clear()

    times = best_pair(trials, plain, encrypted, reset)
    reset()
    plain()  # both kinds stay stored, freshly written, for the read-back
    encrypted()
    return times


def bench_ingest_nofsync(work: Path, source: Path, trials: int) -> tuple[float, float]:
    """The same copies into a new file each time, no fsync: the CPU cost the disk hides in (a)."""
    target = work / "nofsync.bin"

    def plain() -> None:
        with open(source, "rb") as src, open(target, "xb") as dst:
            plain_copy(src, dst)

    def encrypted() -> None:
        with open(source, "rb") as src, open(target, "xb") as dst:
            encrypt_stream(DEK, "bench", src, dst)

    return best_pair(trials, plain, encrypted, reset=lambda: target.unlink(missing_ok=True))


def bench_read_back(blobs: EncryptedBlobs, ids: dict[str, str], trials: int) -> tuple[float, float]:
    """Plain readinto of the plain blob vs read_into of the encrypted one, same discarding sink."""

    def plain() -> None:
        with blobs.store.open_read(ids["plain"]) as src:
            plain_copy(src, NullSink())  # type: ignore[arg-type]

    def encrypted() -> None:
        blobs.read_into(DEK, ids["encrypted"], NullSink())  # type: ignore[arg-type]

    return best_pair(trials, plain, encrypted)


if __name__ == "__main__":
    main()
