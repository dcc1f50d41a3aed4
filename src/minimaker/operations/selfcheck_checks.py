"""The self-check's checks of the installation itself: what the settings and the files say.

Policy 5.1 (regular security audits), Art. 32(1)(d) ("regularly testing, assessing and
evaluating the effectiveness of technical and organisational measures"). These checks need
only the settings and the policy, so they run even when the service cannot start (a key file
readable by others stops `build`: the self-check still says why). Each returns one `Check`
whose message names settings, modes and counts, never a person.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from minimaker.kernel.errors import ConfigurationError
from minimaker.operations import residency
from minimaker.policy import Policy
from minimaker.settings import Settings, is_loopback

#: serve's check of its TLS files (entrypoints/serving.py: checked_tls_files): ConfigurationError
#: saying what is wrong with them, else nothing worth keeping.
TlsFiles = Callable[[Path | None, Path | None], object]


class Status(StrEnum):
    """How a check came out; only FAIL fails the run (and the command's exit code)."""

    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    WARN = "warn"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    """One check's outcome: its name, its status and a short message with no personal data."""

    name: str
    status: Status
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "message": self.message}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def master_key_source(settings: Settings) -> Check:
    """Where the master key comes from: the environment (production), else a local file."""
    name = "master_key_source"
    path = settings.resolved_master_key_file()
    if settings.master_key:
        if path.exists():
            return Check(
                name,
                Status.WARN,
                f"the key comes from MINIMAKER_MASTER_KEY, yet a key file lies at {path}: "
                "remove it unless it is the backup copy kept apart from the data",
            )
        return Check(name, Status.PASS, "the key comes from MINIMAKER_MASTER_KEY (environment)")
    inside = path.resolve().is_relative_to(settings.data_dir.resolve())
    if inside:
        return Check(
            name,
            Status.WARN,
            f"the key is a local file in the data directory ({path}): fine for development; "
            "in production set MINIMAKER_MASTER_KEY, or keep the file apart from the data",
        )
    return Check(name, Status.PASS, f"the key is a local file outside the data directory ({path})")


def master_key_file(settings: Settings) -> Check:
    """The local key file: 0600 and owned by the service's user; anything wider fails."""
    name = "master_key_file"
    path = settings.resolved_master_key_file()
    if settings.master_key and not path.exists():
        return Check(name, Status.SKIPPED, "no local key file: the key comes from the environment")
    if not path.exists():
        return Check(name, Status.FAIL, f"no key file at {path} and no MINIMAKER_MASTER_KEY")
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    # Whoever reads the master key unwraps every subject's data key: owner only, nothing else.
    if mode & 0o077:
        return Check(
            name, Status.FAIL, f"{path} has mode {mode:04o}: readable by others; chmod 600 it"
        )
    if info.st_uid != os.getuid():
        return Check(name, Status.FAIL, f"{path} belongs to uid {info.st_uid}, not this user")
    if not stat.S_ISREG(info.st_mode):
        return Check(name, Status.FAIL, f"{path} is not a regular file")
    return Check(name, Status.PASS, f"{path} has mode {mode:04o}, owned by this user")


def data_dirs(settings: Settings) -> Check:
    """The data and blob directories: the owner's only (0700), as start-up makes them."""
    name = "data_dirs"
    problems, seen = [], []
    folders = [("data dir", settings.data_dir)]
    if not settings.blob_url:  # with a bucket (MINIMAKER_BLOB_URL) there is no blob dir
        folders.append(("blob dir", settings.blob_dir))
    for label, path in folders:
        if not path.is_dir():
            problems.append(f"the {label} {path} does not exist")
            continue
        mode = _mode(path)
        seen.append(f"{label} {mode:04o}")
        if mode & 0o077:
            problems.append(f"the {label} {path} has mode {mode:04o}: open to others; chmod 700")
        elif path.stat().st_uid != os.getuid():
            problems.append(f"the {label} {path} belongs to another user")
    if problems:
        return Check(name, Status.FAIL, "; ".join(problems))
    return Check(name, Status.PASS, ", ".join(seen) + ": owner only")


def tls(settings: Settings, tls_files: TlsFiles) -> Check:
    """Policy 5.1, encryption in transit: as `serve` decides (entrypoints/serving.py) - TLS
    files that hold, a proxy that terminates TLS, or plain HTTP on loopback only. `tls_files`
    is serve's own check of the files (wired in by the composition root)."""
    name = "tls"
    url = urlsplit(settings.public_url)
    host = url.hostname or ""
    if settings.tls_cert is not None or settings.tls_key is not None:
        try:
            tls_files(settings.tls_cert, settings.tls_key)
        except ConfigurationError as exc:
            return Check(name, Status.FAIL, exc.message)
        return Check(name, Status.PASS, "serves HTTPS with tls_cert and tls_key (TLS 1.2+)")
    if settings.trusted_proxies:
        if url.scheme != "https":
            return Check(
                name,
                Status.WARN,
                "a trusted proxy is declared, but MINIMAKER_PUBLIC_URL is not https: links "
                "in emails lead people to plain HTTP",
            )
        return Check(name, Status.PASS, "TLS is terminated by the declared trusted proxies")
    if url.scheme == "https":
        return Check(
            name,
            Status.WARN,
            "MINIMAKER_PUBLIC_URL is https, but no TLS files and no trusted proxy are set: "
            "whatever terminates TLS is not declared (MINIMAKER_TRUSTED_PROXIES)",
        )
    if not is_loopback(host):
        return Check(
            name,
            Status.FAIL,
            f"people reach the service over plain HTTP on {host or 'an unnamed host'}, which "
            "is not loopback: personal data crosses the network unencrypted",
        )
    return Check(name, Status.PASS, "plain HTTP on loopback only (nothing crosses a network)")


def debug(settings: Settings) -> Check:
    """Nothing that would show more than the service needs: MiniMaker has no debug setting
    (the app is built with debug off, tracebacks never show locals); what is left to check is
    the access log (client addresses are personal data), debug logging and Python's dev mode."""
    name = "debug"
    found = []
    if settings.access_log:
        found.append("MINIMAKER_ACCESS_LOG is on: one line per request with the client's address")
    if logging.getLogger("minimaker").getEffectiveLevel() <= logging.DEBUG:
        found.append("the minimaker logger is at DEBUG")
    if sys.flags.dev_mode or os.environ.get("PYTHONASYNCIODEBUG"):
        found.append("Python's development mode or asyncio debug is on")
    if found:
        return Check(name, Status.WARN, "; ".join(found))
    return Check(name, Status.PASS, "no debug output, no access log")


def residency_check(settings: Settings, policy: Policy) -> Check:
    """Policy 10.1, 10.2: every store and processor stands where the policy allows it."""
    from minimaker.sharing import service as sharing

    problems = residency.problems(settings, policy)
    for processor in sorted(policy.processors):
        entry = sharing.entry(policy, processor)
        if entry is not None and entry.transfer_problem is not None:
            problems.append(f"processor {processor}: {entry.transfer_problem}")
    if problems:
        return Check("residency", Status.FAIL, "; ".join(problems))
    stores = len(residency.stores(settings))
    return Check(
        "residency",
        Status.PASS,
        f"{stores} stores and {len(policy.processors)} processors in lawful regions",
    )


def installation(settings: Settings, policy: Policy, tls_files: TlsFiles) -> list[Check]:
    """Every check that needs only the settings and the policy, in a fixed order."""
    return [
        master_key_source(settings),
        master_key_file(settings),
        data_dirs(settings),
        tls(settings, tls_files),
        debug(settings),
        residency_check(settings, policy),
    ]
