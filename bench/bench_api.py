"""Authenticated GET /api/v1/me requests/s vs a bare FastAPI endpoint served the same way.

Both servers run as `uvicorn` subprocesses with one worker on this machine, loaded by the same
asyncio client in the same run, one after the other. Target: ratio >= 0.3.
Usage: python bench/bench_api.py [--seconds 5] [--concurrency 16] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server on {port} did not start: {cmd}")


async def load(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> float:
    done = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one() -> None:
            nonlocal done
            while time.monotonic() < stop:
                r = await client.get(url, headers=headers)
                assert r.status_code == 200, r.text
                done += 1

        t0 = time.monotonic()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        return done / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--pg", default=None, help="PostgreSQL URL (default: SQLite)")
    args = ap.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MINIMAKER_DATA_DIR": tmp, "PYTHONPATH": str(ROOT / "bench")}
        env["MINIMAKER_MASTER_KEY"] = subprocess.check_output(
            [sys.executable, "-m", "minimaker.entrypoints.cli", "keys", "generate"], text=True
        ).strip()
        if args.pg:
            env["MINIMAKER_DATABASE_URL"] = args.pg
        mm_port, bare_port = free_port(), free_port()
        mm = start(
            [
                sys.executable,
                "-m",
                "minimaker.entrypoints.cli",
                "serve",
                "--port",
                str(mm_port),
                "--no-worker",
            ],
            env,
            mm_port,
        )
        bare = start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env,
            bare_port,
        )
        try:
            base = f"http://127.0.0.1:{mm_port}"
            user = {
                "name": "Bench Mark",
                "email": f"b{mm_port}@example.org",
                "username": f"bench{mm_port}",
                "password": "benchmark password",
            }
            httpx.post(base + "/api/v1/auth/signup", json=user).raise_for_status()
            tok = httpx.post(
                base + "/api/v1/auth/token",
                data={"username": user["username"], "password": user["password"]},
            )
            headers = {"Authorization": f"Bearer {tok.json()['access_token']}"}
            asyncio.run(load(base + "/api/v1/me", headers, 1, args.concurrency))  # warm up
            asyncio.run(load(f"http://127.0.0.1:{bare_port}/api/v1/me", {}, 1, args.concurrency))
            ours = asyncio.run(load(base + "/api/v1/me", headers, args.seconds, args.concurrency))
            base_rps = asyncio.run(
                load(f"http://127.0.0.1:{bare_port}/api/v1/me", {}, args.seconds, args.concurrency)
            )
        finally:
            for p in (mm, bare):
                p.terminate()
                p.wait(timeout=10)
    db = "PostgreSQL" if args.pg else "SQLite"
    print(f"\nGET /api/v1/me, {args.concurrency} concurrent, {args.seconds:.0f}s each ({db})")
    print(f"  minimaker (bearer auth + session row + decrypt 3 fields): {ours:8.0f} req/s")
    print(f"  bare FastAPI endpoint, same server settings:             {base_rps:8.0f} req/s")
    ratio = ours / base_rps
    print(f"  ratio {ratio:.2f}  (target >= 0.3: {'met' if ratio >= 0.3 else 'MISSED'})")


if __name__ == "__main__":
    main()
