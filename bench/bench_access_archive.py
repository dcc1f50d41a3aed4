"""Building an access archive (Art. 15) against a plain copy of the same bytes; peak memory.

Run: python bench/bench_access_archive.py [--gib 1] [--photo-mib 16] [--trials 2] [--dir /tmp]

Setup (untimed): a fresh data directory (SQLite + local blob store) with one subject whose
photos are --gib of random bytes in --photo-mib blobs, stored as the upload service stores
them (EncryptedBlobs.put under the subject's key + an Upload row; image validation is skipped,
it is not what is measured). The same plaintext is also written as plain files beside them.

Fairness, both sides:
- each trial runs in a fresh child process, so its RSS high-water (VmHWM) is its own;
- both read sources that were just written (page cache) and write one output file in the same
  file system, fsynced along with its directory;
- plain: the plaintext files concatenated with a reused 1 MiB readinto/write loop;
- archive: the real fulfiller, access.fulfil_access: snapshot, decrypt chunk by chunk, ZIP,
  encrypt through the in-memory pipe into the blob store, Archive row and audit;
- trials alternate plain / archive; the best time of each is reported.
Targets: archive time <= 2x plain copy; archive child's peak RSS <= 200 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe

MIB = 1 << 20
PASSWORD = "correct horse battery staple"


def rss_mib() -> float:
    """This process's RSS high-water mark so far, in MiB."""
    # VmHWM belongs to this address space alone; ru_maxrss would also count the parent's
    # high-water mark, which Linux carries over fork and exec into the child.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def child_env(work: Path, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMAKER_")}
    env |= {
        "MINIMAKER_DATA_DIR": str(work / "data"),
        "MINIMAKER_MASTER_KEY": key,
        "MINIMAKER_EMBEDDED_WORKER": "false",
    }
    return env


def setup(work: Path, key: str, *, total: int, photo: int) -> str:
    """Migrate, create the subject, store its photos encrypted and in plain files."""
    from minimaker.accounts import service as accounts
    from minimaker.adapters import keystore, migrate
    from minimaker.adapters.db import make_engine
    from minimaker.bootstrap import build
    from minimaker.settings import load_settings
    from minimaker.uploads.tables import Upload

    os.environ.update(child_env(work, key))
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, mode=0o700)
    for url, upgrade in (
        (settings.resolved_database_url(), migrate.upgrade),
        (settings.resolved_keystore_url(), keystore.upgrade),
    ):
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    c = build(settings)
    user_id = accounts.signup(
        c, name="Bench Subject", email="bench@example.org", username="bench", password=PASSWORD
    ).id
    dek = c.keys.subject_key(user_id)
    (work / "plain").mkdir()
    with c.uow() as uow:
        for i in range(max(1, total // photo)):
            data = b"\xff\xd8\xff\xe0" + os.urandom(photo - 4)  # JPEG-like: SOI + APP0 marker
            (work / "plain" / f"{i:05d}").write_bytes(data)
            stored = c.blobs.put_bytes(dek, data)
            uow.wrote_blob(stored.blob_id)
            uow.session.add(
                Upload(
                    id=uuid.uuid4().hex,
                    owner_id=user_id,
                    blob_id=stored.blob_id,
                    media_type="image/jpeg",
                    size_bytes=len(data),
                    width=4000,
                    height=3000,
                    created_at=c.clock.now(),
                )
            )
        uow.commit()
    c.close()
    return user_id


def run_plain(work: Path) -> dict[str, float]:
    """Child: concatenate the plaintext files into one fsynced output file."""
    before = rss_mib()
    out = work / "plain-out"
    view = memoryview(bytearray(MIB))
    start = time.perf_counter()
    total = 0
    with open(out, "wb") as dst:
        for path in sorted((work / "plain").iterdir()):
            with open(path, "rb") as src:
                while n := src.readinto(view):
                    dst.write(view[:n])
                    total += n
        dst.flush()
        os.fsync(dst.fileno())
    fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
    seconds = time.perf_counter() - start
    out.unlink()
    return {"seconds": seconds, "bytes": total, "before_mib": before, "peak_mib": rss_mib()}


def run_archive(user_id: str) -> dict[str, float]:
    """Child: build a real access archive with the fulfiller, then drop its blob."""
    from minimaker.bootstrap import build
    from minimaker.rights import access, intake
    from minimaker.rights.fulfil import Work
    from minimaker.rights.rules import RequestType
    from minimaker.rights.tables import Archive
    from minimaker.settings import load_settings

    c = build(load_settings())
    request = intake.submit(c, user_id=user_id, type="access")
    work = Work(request.id, user_id, RequestType.ACCESS, {})
    before = rss_mib()
    start = time.perf_counter()
    archive_id = access.fulfil_access(c, work)
    seconds = time.perf_counter() - start
    peak = rss_mib()
    with c.uow() as uow:
        row = uow.session.get(Archive, archive_id)
        assert row is not None
        size = row.size_bytes
        uow.session.delete(row)
        uow.delete_blob_after_commit(row.blob_id)
        uow.commit()
    c.close()
    return {"seconds": seconds, "bytes": size, "before_mib": before, "peak_mib": peak}


def in_child(work: Path, key: str, side: str, user_id: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", side, "--work", str(work), "--subject", user_id]
    out = subprocess.run(cmd, env=child_env(work, key), check=True, capture_output=True)
    return dict(json.loads(out.stdout.decode().strip().splitlines()[-1]))


def report(total: int, photos: int, plain: list[dict[str, float]], arch: list[dict[str, float]]):
    best_plain = min(p["seconds"] for p in plain)
    best_arch = min(a["seconds"] for a in arch)
    ratio = best_arch / best_plain
    peak = max(a["peak_mib"] for a in arch)
    base = min(a["before_mib"] for a in arch)
    mib = total / MIB
    print(f"photos      {photos} x {total // photos // MIB} MiB = {mib:.0f} MiB of plaintext")
    print(f"archive     {max(a['bytes'] for a in arch) / MIB:.1f} MiB ZIP (sealed in the store)")
    print(f"plain copy  {best_plain:7.2f} s  {mib / best_plain:7.0f} MiB/s  (best of {len(plain)})")
    print(f"archive     {best_arch:7.2f} s  {mib / best_arch:7.0f} MiB/s  (best of {len(arch)})")
    print(f"ratio       {ratio:7.2f}x  ({'meets' if ratio <= 2 else 'MISSES'} the 2x target)")
    print(
        f"peak RSS    {peak:7.1f} MiB in the archive child  "
        f"({'meets' if peak <= 200 else 'MISSES'} the 200 MiB target); {base:.1f} MiB before "
        f"the build (imports, engine), so the build itself added {peak - base:.1f} MiB"
    )
    print(f"plain child {max(p['peak_mib'] for p in plain):7.1f} MiB peak RSS, for reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="photo plaintext, GiB")
    parser.add_argument("--photo-mib", type=int, default=16, help="size of each photo, MiB")
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--dir", default=None, help="work directory parent (default: tmp)")
    parser.add_argument("--child", choices=["plain", "archive"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_plain(Path(args.work)) if args.child == "plain" else run_archive(args.subject)
        print(json.dumps(result))
        return
    from minimaker.adapters.crypto.keys import encode_key, generate_key

    print(describe())
    load = load_avg()
    key = encode_key(generate_key())
    total, photo = int(args.gib * (1 << 30)), args.photo_mib * MIB
    with tempfile.TemporaryDirectory(prefix="mm-bench-archive-", dir=args.dir) as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        user_id = setup(work, key, total=total, photo=photo)
        print(f"setup       {time.perf_counter() - start:.1f} s (untimed below), work dir {work}")
        plain, arch = [], []
        for _ in range(args.trials):
            plain.append(in_child(work, key, "plain", user_id))
            arch.append(in_child(work, key, "archive", user_id))
        photos = max(1, total // photo)
        report(photos * photo, photos, plain, arch)
    print(f"load avg    {load} at start, {load_avg()} at end (other work skews the ratio)")


if __name__ == "__main__":
    main()
