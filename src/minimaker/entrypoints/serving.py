"""How `minimaker serve` listens: HTTPS from a certificate, or plain HTTP only where it is safe.

Policy 5.1: personal data is encrypted in transit. Plain HTTP is served on loopback (a
developer's laptop: nothing crosses a network), behind a declared proxy that terminates TLS,
or where the operator says so out loud (`--insecure`); anywhere else `serve` refuses before
it binds a socket or touches a database.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from minimaker.kernel.errors import ConfigurationError
from minimaker.settings import Settings, is_loopback

if TYPE_CHECKING:
    from starlette.types import ASGIApp
    from uvicorn import Config, Server

log = logging.getLogger("minimaker.serve")

#: The oldest protocol served: TLS 1.0 and 1.1 are deprecated (RFC 8996).
MINIMUM_TLS = ssl.TLSVersion.TLSv1_2


@dataclass(frozen=True)
class TlsFiles:
    """A certificate (chain) and its private key, both checked readable and matching."""

    cert: Path
    key: Path


class TlsOptions(TypedDict, total=False):
    ssl_certfile: str
    ssl_keyfile: str
    ssl_context_factory: Callable[[Config, Callable[[], ssl.SSLContext]], ssl.SSLContext]


class ProxyOptions(TypedDict, total=False):
    proxy_headers: bool
    forwarded_allow_ips: list[str]


def listening(
    settings: Settings, *, host: str, cert: Path | None, key: Path | None, insecure: bool
) -> TlsFiles | None:
    """The TLS files to serve `host` with, or None for plain HTTP where that is allowed;
    ConfigurationError for bad files, or for plain HTTP where it is not."""
    cert, key = cert or settings.tls_cert, key or settings.tls_key
    if cert is not None or key is not None:
        return checked_tls_files(cert, key)
    if is_loopback(host) or settings.trusted_proxies:
        return None
    if not insecure:
        raise ConfigurationError(
            f"refusing to serve plain HTTP on {host}, which is not a loopback address: "
            "personal data would cross the network unencrypted (policy 5.1). Either serve "
            "HTTPS (--tls-cert FILE --tls-key FILE, or MINIMAKER_TLS_CERT and "
            "MINIMAKER_TLS_KEY), or declare the reverse proxy that terminates TLS in "
            "MINIMAKER_TRUSTED_PROXIES, or pass --insecure on a network you trust"
        )
    log.warning(
        "!!! --insecure: serving plain HTTP on %s; personal data crosses the network "
        "unencrypted. Only on a network you trust. !!!",
        host,
    )
    return None


def checked_tls_files(cert: Path | None, key: Path | None) -> TlsFiles:
    """Both files, readable, PEM, the certificate current and the key its own; else why not."""
    if cert is None or key is None:
        raise ConfigurationError("TLS needs both a certificate (tls_cert) and its key (tls_key)")
    certificate = _certificate(cert)
    _private_key(key)
    now = datetime.now(UTC)
    if certificate.not_valid_after_utc < now:
        raise ConfigurationError(f"tls_cert {cert} expired on {certificate.not_valid_after_utc}")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except ssl.SSLError:
        raise ConfigurationError(f"tls_key {key} is not the key of tls_cert {cert}") from None
    return TlsFiles(cert, key)


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{setting} {path}: no such file") from None
    except OSError as exc:
        raise ConfigurationError(f"{setting} {path} cannot be read ({exc.strerror})") from None


def _certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_read("tls_cert", path))
    except ValueError:
        raise ConfigurationError(f"tls_cert {path} is not a PEM certificate") from None


def _private_key(path: Path) -> None:
    data = _read("tls_key", path)
    # Whoever reads the key can impersonate the service and read its traffic.
    if os.stat(path).st_mode & stat.S_IROTH:
        raise ConfigurationError(f"tls_key {path} is readable by others; chmod o-r it")
    try:
        serialization.load_pem_private_key(data, password=None)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        raise ConfigurationError(f"tls_key {path} is encrypted; give it unencrypted") from None
    except ValueError:
        raise ConfigurationError(f"tls_key {path} is not a PEM private key") from None


def tls_options(tls: TlsFiles | None) -> TlsOptions:
    """uvicorn's TLS arguments for `tls` (none for plain HTTP), TLS 1.2 at least."""
    if tls is None:
        return {}
    return {
        "ssl_certfile": str(tls.cert),
        "ssl_keyfile": str(tls.key),
        "ssl_context_factory": server_context,
    }


def server_context(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's context for the files, never below MINIMUM_TLS whatever OpenSSL allows."""
    context = default()
    context.minimum_version = MINIMUM_TLS
    return context


def proxy_options(settings: Settings) -> ProxyOptions:
    """uvicorn's own reading of X-Forwarded-For: only from `trusted_proxies`, else never.

    Left on by default, uvicorn trusts the header from 127.0.0.1, so any local client (or
    a proxy that passes the header through) could name itself any address, and every
    throttle would count a forged one. The app reads the header itself (http.client_ip);
    uvicorn may agree with it, from the same proxies, and take the scheme from them too.
    """
    if not settings.trusted_proxies or settings.forwarded_header != "x-forwarded-for":
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}


def shared_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port with SO_REUSEPORT, not yet listening: several `serve
    --reuse-port` processes bind the same address and the kernel spreads new connections
    among those listening. ConfigurationError where that cannot work, before any database."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigurationError("--reuse-port needs SO_REUSEPORT, which this platform lacks")
    if port == 0:
        # Port 0 is a fresh random port per process: nothing would be shared.
        raise ConfigurationError("--reuse-port needs a fixed --port, not 0")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot bind {host}:{port} with --reuse-port ({exc.strerror}): a process that "
            "did not set it holds the port, or one of another user"
        ) from None
    return sock


def shared_port_server(config: Config) -> Server:
    """A uvicorn server that says when it listens on its shared socket (uvicorn, handed a
    socket, does not), so whoever starts the next process knows this one is taking
    connections."""
    import uvicorn

    class SharedPortServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            for sock in sockets or []:
                address = sock.getsockname()
                log.info("listening on %s port %d (SO_REUSEPORT)", address[0], address[1])

    return SharedPortServer(config)


def run(
    app: ASGIApp,
    settings: Settings,
    tls: TlsFiles | None,
    *,
    host: str,
    port: int,
    sock: socket.socket | None = None,
) -> None:
    """Serve `app` with uvicorn on host:port, or on `sock` (`shared_socket`) when given."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=settings.access_log,
        # JSON logs: uvicorn's own loggers then go through the root's JSON handler.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        **proxy_options(settings),
        **tls_options(tls),
    )
    server = uvicorn.Server(config) if sock is None else shared_port_server(config)
    server.run(sockets=None if sock is None else [sock])
    if not server.started:  # as uvicorn.run: a failed start-up is a failed exit
        raise SystemExit(3)
