"""What the fleet benchmarks share: wrk runs (Lua scripts for tokens and multipart bodies),
users signed up through the API, and an accounting of who used the CPUs during a phase."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.fleet import Fleet, Process

PASSWORD = "bench password, not a real one"
BOUNDARY = "minimaker-bench-boundary"
TICK = os.sysconf("SC_CLK_TCK")

READ_LUA = """
local tokens = {%(tokens)s}
local i = 0
request = function()
  i = i %% #tokens + 1
  return wrk.format("GET", "%(path)s", {["Authorization"] = "Bearer " .. tokens[i]})
end
"""

UPLOAD_LUA = """
local tokens = {%(tokens)s}
local f = assert(io.open("%(photo)s", "rb"))
local photo = f:read("*a")
f:close()
local body = "--%(boundary)s\\r\\n"
  .. 'Content-Disposition: form-data; name="file"; filename="photo.jpg"\\r\\n'
  .. "Content-Type: image/jpeg\\r\\n\\r\\n" .. photo .. "\\r\\n--%(boundary)s--\\r\\n"
local i = 0
request = function()
  i = i %% #tokens + 1
  return wrk.format("POST", "/api/v1/uploads", {
    ["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "multipart/form-data; boundary=%(boundary)s",
  }, body)
end
"""


def lua_script(folder: Path, name: str, template: str, tokens: list[str], **more: str) -> Path:
    """A wrk script from `template`, rotating over `tokens` request by request."""
    path = folder / f"{name}.lua"
    path.write_text(template % {"tokens": ", ".join(json.dumps(t) for t in tokens), **more})
    return path


@dataclass
class WrkResult:
    rate: float
    p50_ms: float
    p99_ms: float
    cpu_s: float  # wrk's own user + system CPU time
    output: str


def _ms(out: str, percent: str) -> float:
    match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\b", out, re.M)
    if not match:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


def wrk_command(
    url: str, script: Path, seconds: float, connections: int, pin: str | None
) -> list[str]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "30s"]
    cmd += ["--latency", "-s", str(script)]
    return (["taskset", "-c", pin] if pin else []) + [*cmd, url]


def _parsed(out: str, cpu_s: float) -> WrkResult:
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"no rate in wrk's output:\n{out}")
    return WrkResult(float(match.group(1)), _ms(out, "50"), _ms(out, "99"), cpu_s, out)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def wrk(cmd: list[str]) -> WrkResult:
    """Run wrk to its end; any non-2xx answer or socket error fails the benchmark."""
    before = _children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return _parsed(out, _children_cpu() - before)


@contextmanager
def wrk_in_background(cmd: list[str]) -> Iterator[list[WrkResult]]:
    """wrk loading the fleet while the body runs; stopped with SIGINT (wrk then reports) at
    its end, its result appended to the yielded list."""
    before = _children_cpu()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found: list[WrkResult] = []
    try:
        time.sleep(1.0)  # load first, measure second
        yield found
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    found.append(_parsed(out, _children_cpu() - before))


def sign_up(base: str, names: Iterable[str]) -> dict[str, str]:
    """Sign each username up through the API and sign it in: username -> bearer token."""

    def one(name: str) -> tuple[str, str]:
        user = {
            "name": f"Bench {name}",
            "email": f"{name}@example.org",
            "username": name,
            "password": PASSWORD,
        }
        httpx.post(base + "/api/v1/auth/signup", json=user, timeout=60).raise_for_status()
        form = {"username": name, "password": PASSWORD}
        tok = httpx.post(base + "/api/v1/auth/token", data=form, timeout=60)
        tok.raise_for_status()
        return name, str(tok.json()["access_token"])

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(one, names))


def upload(base: str, token: str, photo: bytes) -> str:
    files = {"file": ("photo.jpg", photo, "image/jpeg")}
    answer = httpx.post(
        base + "/api/v1/uploads",
        files=files,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def _jiffies(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _matching(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _busy() -> int:
    """Jiffies every CPU of the machine spent busy so far (not idle, not iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4]


@dataclass
class CpuMeter:
    """CPU seconds per process group over a phase; `needles` find processes by command line
    (PostgreSQL backends by database name, SeaweedFS by its folder)."""

    pids: dict[str, list[int]]
    needles: dict[str, str]
    start: dict[str, dict[int, int]] = field(default_factory=dict)
    began: tuple[float, int] = (0.0, 0)

    def _groups(self) -> dict[str, list[int]]:
        return {**self.pids, **{g: _matching(n) for g, n in self.needles.items()}}

    def __enter__(self) -> CpuMeter:
        self.start = {g: {p: _jiffies(p) for p in ps} for g, ps in self._groups().items()}
        self.began = (time.monotonic(), _busy())
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.monotonic() - self.began[0]
        self.machine = (_busy() - self.began[1]) / TICK
        self.used = {
            g: sum(_jiffies(p) - self.start.get(g, {}).get(p, 0) for p in ps) / TICK
            for g, ps in self._groups().items()
        }

    def cores(self, prefix: str) -> float:
        """Cores the groups named `prefix`... used on average over the phase."""
        return sum(s for g, s in self.used.items() if g.startswith(prefix)) / self.wall

    def line(self, wrk_cpu_s: float = 0.0) -> str:
        """Cores used per group over the phase; 'other' is the rest of the machine's busy time:
        other helpers' runs, PostgreSQL's shared background processes, the bench itself."""
        used = {**self.used, "wrk": wrk_cpu_s}
        used["other"] = max(0.0, self.machine - sum(used.values()))
        cores = ", ".join(f"{g} {s / self.wall:.2f}" for g, s in used.items())
        busy = self.machine / self.wall
        return f"cores used: {cores} (of {os.cpu_count()}; machine busy {busy:.2f})"


def load() -> str:
    """The machine's load averages (1, 5, 15 min): other runs share these CPUs."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def meter(f: Fleet) -> CpuMeter:
    """A CPU meter over the fleet's running processes, its database's backends, its store."""
    pids = {
        p.name: [p.popen.pid]
        for p in (*f.apis, *f.workers)
        if p.popen is not None and p.popen.poll() is None
    }
    database = f.database_url.rsplit("/", 1)[1]
    return CpuMeter(pids, {"postgres": f" {database} ", "seaweed": str(f.folder / "seaweed")})


def scale(processes: list[Process], n: int) -> None:
    """Exactly the first `n` of `processes` running (each started waits until it is ready)."""
    for p in processes[n:]:
        p.stop()
    for p in processes[:n]:
        if p.popen is None or p.popen.poll() is not None:
            p.start()
