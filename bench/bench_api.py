"""Authenticated GET /api/v1/me requests/s vs a bare FastAPI endpoint, under wrk.

Both servers are uvicorn with one worker and the same settings (uvloop, httptools, no access
log), pinned to CPU 0; wrk (a compiled load generator: one thread, 16 connections) is pinned to
CPU 1, so the load client never competes with the server it measures. One run measures both,
one after the other, after a warm-up. Target: ratio >= 0.3 (issue 7, item 8).

A Python load client capped both servers at ~160 req/s and made 0.10x look like 0.66x: this
benchmark refuses to run without wrk (`apt-get install wrk`).
Usage: python bench/bench_api.py [--seconds 10] [--connections 16] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPU, LOAD_CPU = "0", "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: str, cmd: list[str]) -> list[str]:
    """`cmd` on one CPU when the machine has two or more (taskset), else as it is."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", cpu, *cmd]
    return cmd


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        pinned(SERVER_CPU, cmd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server on {port} did not start: {cmd}")


def wrk(url: str, headers: dict[str, str], seconds: float, connections: int) -> float:
    """Requests per second wrk measured; any non-2xx answer fails the benchmark."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        pinned(LOAD_CPU, [*cmd, url]), capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"no rate in wrk's output:\n{out}")
    return float(match.group(1))


def sign_in(base: str) -> dict[str, str]:
    user = {
        "name": "Bench Mark",
        "email": "bench@example.org",
        "username": "bench",
        "password": "benchmark password",
    }
    httpx.post(base + "/api/v1/auth/signup", json=user).raise_for_status()
    tok = httpx.post(
        base + "/api/v1/auth/token",
        data={"username": user["username"], "password": user["password"]},
    )
    tok.raise_for_status()
    return {"Authorization": f"Bearer {tok.json()['access_token']}"}


def servers(env: dict[str, str], mm_port: int, bare_port: int) -> list[subprocess.Popen[bytes]]:
    py = sys.executable
    mm = [py, "-m", "minimaker.entrypoints.cli", "serve", "--port", str(mm_port), "--no-worker"]
    bare = [py, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port)]
    bare += ["--log-level", "warning", "--no-access-log"]
    return [start(mm, env, mm_port), start(bare, env, bare_port)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--pg", default=None, help="PostgreSQL URL (default: SQLite)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MINIMAKER_DATA_DIR": tmp, "PYTHONPATH": str(ROOT / "bench")}
        env["MINIMAKER_MASTER_KEY"] = subprocess.check_output(
            [sys.executable, "-m", "minimaker.entrypoints.cli", "keys", "generate"], text=True
        ).strip()
        if args.pg:
            env["MINIMAKER_DATABASE_URL"] = args.pg
        mm_port, bare_port = free_port(), free_port()
        procs = servers(env, mm_port, bare_port)
        try:
            ours_url = f"http://127.0.0.1:{mm_port}/api/v1/me"
            bare_url = f"http://127.0.0.1:{bare_port}/api/v1/me"
            headers = sign_in(f"http://127.0.0.1:{mm_port}")
            wrk(ours_url, headers, 2, args.connections)  # warm up both
            wrk(bare_url, {}, 2, args.connections)
            ours = wrk(ours_url, headers, args.seconds, args.connections)
            bare = wrk(bare_url, {}, args.seconds, args.connections)
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=10)
    db = "PostgreSQL" if args.pg else "SQLite"
    print(f"\nGET /api/v1/me under wrk -t1 -c{args.connections}, {args.seconds:.0f}s each ({db})")
    print(f"  minimaker (token + session + profile in one read, 3 decrypts): {ours:8.0f} req/s")
    print(f"  bare FastAPI endpoint, same uvicorn settings:                  {bare:8.0f} req/s")
    ratio = ours / bare
    print(f"  ratio {ratio:.2f}  (target >= 0.3: {'met' if ratio >= 0.3 else 'MISSED'})")


if __name__ == "__main__":
    main()
