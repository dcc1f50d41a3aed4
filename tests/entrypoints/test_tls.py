"""`minimaker serve` over TLS, and its refusal of plain HTTP off loopback (policy 5.1).

The serving rules are checked in-process; then real `minimaker serve` processes show them
end to end: HTTPS with a certificate made here, HSTS on the answer, a refusal (before any
socket or database) of plain HTTP on 0.0.0.0, and the two ways to allow it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from minimaker.adapters.crypto.keys import encode_key, generate_key
from minimaker.entrypoints import serving
from minimaker.kernel.errors import ConfigurationError
from minimaker.settings import Settings, is_loopback
from tests.certificates import ServerCertificate, make_server_certificate, private_key_pem
from tests.processes import minimaker, process_env

HSTS = "max-age=63072000; includeSubDomains"
#: Every interface: the non-loopback address the refusal is about.
ANY = "0.0.0.0"  # noqa: S104 - binding everywhere is what these tests ask of serve


@pytest.fixture
def certificate(tmp_path: Path) -> ServerCertificate:
    return make_server_certificate(tmp_path / "tls")


# --- where plain HTTP may be served -------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"],
)
def test_loopback_may_be_served_plain(host: str) -> None:
    assert is_loopback(host)
    assert serving.listening(Settings(), host=host, cert=None, key=None, insecure=False) is None


@pytest.mark.parametrize(
    "host", [ANY, "::", "192.0.2.10", "2001:db8::1", "example.org", "localhost.example.org"]
)
def test_plain_http_off_loopback_is_refused_naming_the_address_and_the_three_ways_out(
    host: str,
) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigurationError) as refused:
        serving.listening(Settings(), host=host, cert=None, key=None, insecure=False)
    message = refused.value.message
    assert f"plain HTTP on {host}," in message
    for way_out in ("--tls-cert", "MINIMAKER_TLS_CERT", "MINIMAKER_TRUSTED_PROXIES", "--insecure"):
        assert way_out in message


def test_insecure_or_a_trusted_proxy_allows_plain_http_off_loopback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plain = {"host": ANY, "cert": None, "key": None}
    with caplog.at_level(logging.WARNING, logger="minimaker.serve"):
        assert serving.listening(Settings(), **plain, insecure=True) is None
    assert "--insecure: serving plain HTTP on 0.0.0.0" in caplog.text  # said out loud
    caplog.clear()
    behind = Settings(trusted_proxies=["10.0.0.2"])
    with caplog.at_level(logging.WARNING, logger="minimaker.serve"):
        assert serving.listening(behind, **plain, insecure=False) is None
    assert caplog.text == ""  # the proxy speaks TLS to the clients: nothing to warn about


def test_the_certificate_from_the_settings_or_the_command_line_is_served(
    certificate: ServerCertificate,
) -> None:
    from_settings = Settings(tls_cert=certificate.cert, tls_key=certificate.key)
    tls = serving.listening(from_settings, host=ANY, cert=None, key=None, insecure=False)
    assert tls == serving.TlsFiles(certificate.cert, certificate.key)
    given = serving.listening(
        Settings(), host=ANY, cert=certificate.cert, key=certificate.key, insecure=False
    )
    assert given == tls
    options = serving.tls_options(tls)
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == (
        str(certificate.cert),
        str(certificate.key),
    )
    assert serving.tls_options(None) == {}


# --- bad certificates and keys ------------------------------------------------------------


def _bad_files(kind: str, good: ServerCertificate, folder: Path) -> tuple[Path | None, Path | None]:
    """A certificate and key pair that is wrong in the way `kind` says."""
    other = make_server_certificate(folder / "other", name="other")
    broken = folder / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    encrypted = folder / "encrypted.key"
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(good.key.read_bytes(), password=None)
    encrypted.write_bytes(private_key_pem(key, password=b"a passphrase"))  # type: ignore[arg-type]
    encrypted.chmod(0o600)
    broken.chmod(0o600)
    open_key = folder / "open.key"
    shutil.copyfile(good.key, open_key)
    open_key.chmod(0o644)
    expired = make_server_certificate(folder / "expired", name="expired", expired=True)
    return {
        "no key": (good.cert, None),
        "no certificate": (None, good.key),
        "missing certificate": (folder / "absent.pem", good.key),
        "missing key": (good.cert, folder / "absent.key"),
        "unreadable certificate": (folder, good.key),  # a directory: read fails
        "certificate not PEM": (broken, good.key),
        "key not PEM": (good.cert, broken),
        "key of another certificate": (good.cert, other.key),
        "key encrypted": (good.cert, encrypted),
        "key readable by others": (good.cert, open_key),
        "certificate expired": (expired.cert, expired.key),
    }[kind]


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("no key", "TLS needs both a certificate (tls_cert) and its key (tls_key)"),
        ("no certificate", "TLS needs both a certificate (tls_cert) and its key (tls_key)"),
        ("missing certificate", "absent.pem: no such file"),
        ("missing key", "absent.key: no such file"),
        ("unreadable certificate", "cannot be read (Is a directory)"),
        ("certificate not PEM", "broken.pem is not a PEM certificate"),
        ("key not PEM", "broken.pem is not a PEM private key"),
        ("key of another certificate", "other.key is not the key of tls_cert"),
        ("key encrypted", "encrypted.key is encrypted; give it unencrypted"),
        ("key readable by others", "open.key is readable by others"),
        ("certificate expired", "expired.pem expired on"),
    ],
)
def test_a_bad_certificate_or_key_is_a_clear_error(
    kind: str, says: str, certificate: ServerCertificate, tmp_path: Path
) -> None:
    cert, key = _bad_files(kind, certificate, tmp_path)
    with pytest.raises(ConfigurationError) as refused:
        serving.listening(Settings(), host="127.0.0.1", cert=cert, key=key, insecure=False)
    assert says in refused.value.message


def test_the_server_context_never_goes_below_tls_1_2(certificate: ServerCertificate) -> None:
    def weak_default() -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1  # as a lax OpenSSL config might have it
        context.load_cert_chain(certificate.cert, certificate.key)
        return context

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 is, which is the point
        context = serving.server_context(None, weak_default)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


# --- real `minimaker serve` processes -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One `minimaker serve` process: its base URL and the CA its clients trust."""

    base: str
    trust: ssl.SSLContext | bool
    proc: subprocess.Popen[bytes]
    log: Path


def _start(folder: Path, template: Path, args: list[str], **env: str) -> Server:
    """`minimaker serve ARGS` on SQLite copies of the template (these tests are about the
    socket, not the data), without waiting for it."""
    data = folder / "data"
    data.mkdir(parents=True, mode=0o700)
    for name in ("minimaker.db", "keys.db"):
        shutil.copyfile(template / name, data / name)
    settings = Settings(data_dir=data, master_key=encode_key(generate_key()))
    environment = process_env(settings, MINIMAKER_EMBEDDED_WORKER="false", **env)
    environment.pop("FORWARDED_ALLOW_IPS", None)
    port = _free_port()
    argv = [sys.executable, "-m", "minimaker.entrypoints.cli", "serve", "--port", str(port)]
    log = folder / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([*argv, *args], env=environment, stdout=out, stderr=out)
    scheme = "https" if "--tls-cert" in args else "http"
    return Server(f"{scheme}://127.0.0.1:{port}", True, proc, log)


def _wait(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail("server exited: " + server.log.read_text())
        try:
            httpx.get(server.base + "/api/v1/me", timeout=1, verify=server.trust)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("server did not start: " + server.log.read_text())


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[dict[str, Server]]:
    """Three servers, started at once (each takes seconds to import and migrate): HTTPS on
    loopback, plain HTTP on 0.0.0.0 with --insecure, and plain on 0.0.0.0 behind a proxy."""
    folder = tmp_path_factory.mktemp("servers")
    certificate = make_server_certificate(folder / "tls")
    tls = ["--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key)]
    started = {
        # cookie_secure off, as for a development server: over TLS cookies are Secure anyway.
        "tls": _start(folder / "tls", sqlite_template, tls, MINIMAKER_COOKIE_SECURE="false"),
        "insecure": _start(folder / "insecure", sqlite_template, ["--host", ANY, "--insecure"]),
        "proxy": _start(
            folder / "proxy",
            sqlite_template,
            ["--host", ANY],
            MINIMAKER_TRUSTED_PROXIES="127.0.0.1",
        ),
    }
    started["tls"].trust = ssl.create_default_context(cafile=str(certificate.ca))
    try:
        for server in started.values():
            _wait(server)
        yield started
    finally:
        for server in started.values():
            server.proc.terminate()
        for server in started.values():
            server.proc.wait(timeout=15)


@pytest.mark.server
def test_a_tls_server_on_loopback_serves_the_api_with_hsts_and_secure_cookies(
    servers: dict[str, Server],
) -> None:
    server = servers["tls"]
    with httpx.Client(base_url=server.base, verify=server.trust, timeout=10) as https:
        api = https.get("/api/v1/openapi.json")
        assert api.status_code == 200
        assert api.json()["info"]["title"] == "MiniMaker"
        assert api.headers["strict-transport-security"] == HSTS
        page = https.get("/")
        assert page.headers["strict-transport-security"] == HSTS
        assert "secure" in page.headers["set-cookie"].lower()
    assert isinstance(server.trust, ssl.SSLContext)
    port = int(server.base.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        server.trust.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # Not trusted without the CA: the certificate is ours, and nobody else vouches for it.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(server.base + "/api/v1/me", timeout=5)
    # And no plain HTTP on the TLS port.
    with pytest.raises(httpx.TransportError):
        httpx.get(server.base.replace("https://", "http://") + "/api/v1/me", timeout=5)


@pytest.mark.server
def test_insecure_allows_plain_http_off_loopback_without_hsts(
    servers: dict[str, Server],
) -> None:
    r = httpx.get(servers["insecure"].base + "/api/v1/me", timeout=5)
    assert r.status_code == 401
    assert "strict-transport-security" not in r.headers
    assert "--insecure: serving plain HTTP on 0.0.0.0" in servers["insecure"].log.read_text()


@pytest.mark.server
def test_a_trusted_proxy_allows_plain_http_and_its_https_gets_hsts(
    servers: dict[str, Server],
) -> None:
    base = servers["proxy"].base
    via_tls = httpx.get(base + "/api/v1/me", headers={"x-forwarded-proto": "https"}, timeout=5)
    assert via_tls.headers["strict-transport-security"] == HSTS
    plain = httpx.get(base + "/api/v1/me", headers={"x-forwarded-proto": "http"}, timeout=5)
    assert "strict-transport-security" not in plain.headers


@pytest.mark.server
def test_plain_http_on_a_non_loopback_address_is_refused_before_anything_starts(
    tmp_path: Path, master_key: str
) -> None:
    fresh = Settings(data_dir=tmp_path / "never-created", master_key=master_key)
    port = str(_free_port())
    refused = minimaker("serve", "--host", ANY, "--port", port, env=process_env(fresh))
    assert refused.returncode == 2, refused.stderr
    said = " ".join(refused.stderr.split())
    assert "refusing to serve plain HTTP on 0.0.0.0, which is not a loopback address" in said
    assert "--tls-cert FILE --tls-key FILE" in said and "--insecure" in said
    assert "MINIMAKER_TRUSTED_PROXIES" in said
    # Refused before any database, key file or socket: the data directory was never made.
    assert not fresh.data_dir.exists()
    assert "Uvicorn running" not in refused.stderr


@pytest.mark.server
def test_a_mismatched_key_is_a_clear_error_on_the_command_line(
    tmp_path: Path, certificate: ServerCertificate, master_key: str
) -> None:
    other = make_server_certificate(tmp_path / "other", name="other")
    fresh = Settings(data_dir=tmp_path / "never-created", master_key=master_key)
    env = process_env(
        fresh, MINIMAKER_TLS_CERT=str(certificate.cert), MINIMAKER_TLS_KEY=str(other.key)
    )
    refused = minimaker("serve", "--port", str(_free_port()), env=env)
    assert refused.returncode == 2
    assert "is not the key of tls_cert" in " ".join(refused.stderr.split())
    assert not fresh.data_dir.exists()


def test_serve_help_names_the_tls_options() -> None:
    shown = minimaker("serve", "--help", env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0
    for option in ("--tls-cert", "--tls-key", "--insecure"):
        assert option in shown.stdout
