"""Mailers: how a message leaves MiniMaker (SMTP), or waits in a folder for an operator.

Every mailer raises `DeliveryFailed` with a reason safe to store: an exception type and an
SMTP reply code, never an address or a server's reply text (which often quotes the address).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from minimaker.adapters.private_files import write_private
from minimaker.kernel.errors import ConfigurationError, MiniMakerError, NotFound
from minimaker.settings import Settings, is_loopback

log = logging.getLogger("minimaker.mail")

_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
_TRUE = {"1", "true", "yes", "on"}
DEFAULT_TIMEOUT_S = 30.0


class Mailer(Protocol):
    """Sends one email; raises DeliveryFailed when it could not."""

    def send(self, to: str, subject: str, body: str, message_id: str) -> None: ...


class DeliveryFailed(MiniMakerError):
    """A message was not delivered; `permanent` when retrying cannot help."""

    status = 502
    code = "delivery_failed"

    def __init__(self, reason: str, *, permanent: bool) -> None:
        self.reason = reason
        self.permanent = permanent
        super().__init__(f"delivery failed: {reason}")


def compose(*, sender: str, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
    """The email as it goes out; its Message-ID is the outbox id, so retries are recognisable."""
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError("a message id is 32 lowercase hex digits")
    msg = EmailMessage()  # policy.default refuses CR/LF in headers: no header injection
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<{message_id}@{sender.rpartition('@')[2] or 'minimaker.invalid'}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to us
    msg.set_content(body)
    return msg


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to reach the SMTP relay, parsed from settings.smtp_url."""

    host: str
    port: int
    security: str  # "plain", "starttls" or "tls"
    username: str | None
    password: str | None
    timeout_s: float

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parse smtp://[user:password@]host[:port][?starttls=1][&timeout=S] or smtps://..."""
        # Error messages name the rule, never the URL: it may carry a password.
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError("smtp_url must be smtp://host[:port] or smtps://host[:port]")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if set(query) - {"starttls", "timeout"}:
            raise ConfigurationError("smtp_url accepts only the options starttls and timeout")
        starttls = query.get("starttls", "0").lower() in _TRUE
        if parts.scheme == "smtps" and starttls:
            raise ConfigurationError("smtps:// is TLS from the start; starttls does not apply")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
            timeout = float(query.get("timeout", DEFAULT_TIMEOUT_S))
        except ValueError:
            raise ConfigurationError("smtp_url has an invalid port or timeout") from None
        security = "tls" if parts.scheme == "smtps" else "starttls" if starttls else "plain"
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout_s=timeout,
        )

    def require_encryption(self) -> None:
        """ConfigurationError for a relay reached in plaintext that is not on this machine."""
        # Policy 5.1: a message holds a name, an address and links to personal data; off
        # this machine it travels encrypted, or not at all. (The host is an operator's relay,
        # not personal data; the rest of the URL, which may hold a password, is never shown.)
        if self.security == "plain" and not is_loopback(self.host):
            raise ConfigurationError(
                f"smtp_url would send mail to {self.host} without TLS; use smtps://{self.host} "
                "(implicit TLS) or add ?starttls=1, or run the relay on this machine (loopback)"
            )


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context that verifies the relay's certificate and name, TLS 1.2 at least:
    against the system's authorities, or only those in `ca_file` (a private CA)."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError):
        raise ConfigurationError(
            f"smtp_ca_file {ca_file} cannot be read as PEM certificates"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SmtpMailer:
    """Delivers through an SMTP relay: STARTTLS or implicit TLS (plain only on loopback),
    with optional login; the relay's certificate is verified."""

    def __init__(self, server: SmtpServer, *, sender: str, ca_file: Path | None = None) -> None:
        server.require_encryption()
        self.server = server
        self.sender = sender
        # Built once, as the mailer is: a bad CA file is a start-up error, not a failed send.
        self.context = tls_context(ca_file) if server.security != "plain" else None

    def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        """Send one message over a fresh connection."""
        msg = compose(sender=self.sender, to=to, subject=subject, body=body, message_id=message_id)
        try:
            with self._connect() as smtp:
                if self.server.username is not None:
                    smtp.login(self.server.username, self.server.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            # Its data maps each refused address to its reply: keep the code, drop the rest.
            code = min(reply[0] for reply in exc.recipients.values())
            raise DeliveryFailed(f"SMTPRecipientsRefused {code}", permanent=code >= 500) from None
        except smtplib.SMTPResponseException as exc:
            # Only a refusal of the message itself is final; a refused login or sender is the
            # operator's to fix, after which waiting messages should still go out.
            permanent = isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500
            reason = f"{type(exc).__name__} {exc.smtp_code}"
            raise DeliveryFailed(reason, permanent=permanent) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(type(exc).__name__, permanent=False) from None

    def _connect(self) -> smtplib.SMTP:
        server, context = self.server, self.context
        name = _ehlo_name()
        if server.security == "tls":
            return smtplib.SMTP_SSL(
                server.host,
                server.port,
                local_hostname=name,
                timeout=server.timeout_s,
                context=context,
            )
        smtp = smtplib.SMTP(server.host, server.port, local_hostname=name, timeout=server.timeout_s)
        if server.security == "starttls":
            try:
                # No offer of STARTTLS, or a certificate that fails, raises: never plain instead.
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp


@cache
def _ehlo_name() -> str:
    # smtplib looks the name up (DNS) on every connection; once per process is enough.
    return socket.getfqdn()


class FileSealer(Protocol):
    """Seals a message file for the outbox folder and opens it again; the keys are its own."""

    def seal(self, message_id: str, data: bytes) -> bytes: ...

    def open(self, message_id: str, sealed: bytes) -> bytes: ...


#: A sealed message file; `<id>.eml` is the plaintext of versions before issue 8 (legacy).
SEALED_SUFFIX, LEGACY_SUFFIX = ".mail", ".eml"


class OutboxDirMailer:
    """Development convenience: each message waits, sealed, as `<id>.mail` in a folder.

    Nothing leaves the machine. A file holds the recipient and the body, so it is sealed
    (AES-256-GCM, `sealer`) before it touches the disk: no plaintext mail at rest. The folder
    is 0700, the files 0600, named by the message id only; an operator lists them with
    `minimaker outbox list`, reads one with `--show` (which removes it: read is delivered), and
    forwards what must reach someone. Production sets MINIMAKER_SMTP_URL instead.
    """

    def __init__(self, folder: Path, *, sender: str, sealer: FileSealer) -> None:
        self.folder = folder
        self.sender = sender
        self.sealer = sealer

    def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        """Write the message sealed and atomically as `<id>.mail` (0600)."""
        msg = compose(sender=self.sender, to=to, subject=subject, body=body, message_id=message_id)
        sealed = self.sealer.seal(message_id, msg.as_bytes())
        try:
            self._write(message_id, sealed)
        except OSError as exc:
            raise DeliveryFailed(type(exc).__name__, permanent=False) from None

    def _write(self, message_id: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)  # mkdir's mode is filtered by the umask; this is not
        write_private(self.path_of(message_id), data)

    def path_of(self, message_id: str, suffix: str = SEALED_SUFFIX) -> Path:
        """The file of one message; only a well-formed id names a file."""
        if not _MESSAGE_ID.fullmatch(message_id):
            raise NotFound("message file")
        return self.folder / f"{message_id}{suffix}"

    def waiting(self) -> list[WaitingFile]:
        """The sealed message files in the folder, oldest first."""
        return self._files(SEALED_SUFFIX)

    def legacy(self) -> list[WaitingFile]:
        """Plaintext `.eml` files an earlier version left, oldest first."""
        return self._files(LEGACY_SUFFIX)

    def _files(self, suffix: str) -> list[WaitingFile]:
        if not self.folder.is_dir():
            return []
        found = [
            WaitingFile(p.stem, p.stat().st_size, p.stat().st_mtime)
            for p in self.folder.glob(f"*{suffix}")
            if _MESSAGE_ID.fullmatch(p.stem) and p.is_file()
        ]
        return sorted(found, key=lambda f: f.modified)

    def read(self, message_id: str) -> str:
        """The text of one message file, opened."""
        path = self.path_of(message_id)
        if not path.is_file():
            raise NotFound("message file")
        opened = self.sealer.open(message_id, path.read_bytes())
        return opened.decode("utf-8", errors="replace")

    def seal_legacy(self, message_id: str) -> None:
        """Seal a plaintext `.eml` file of an earlier version in place of itself."""
        plain = self.path_of(message_id, LEGACY_SUFFIX)
        self._write(message_id, self.sealer.seal(message_id, plain.read_bytes()))
        plain.unlink()

    def remove(self, message_id: str) -> bool:
        """Delete a message's file (sealed or legacy); whether there was one."""
        removed = False
        for suffix in (SEALED_SUFFIX, LEGACY_SUFFIX):
            try:
                self.path_of(message_id, suffix).unlink()
                removed = True
            except FileNotFoundError:
                pass
        return removed


@dataclass(frozen=True)
class WaitingFile:
    message_id: str
    size_bytes: int
    modified: float  # POSIX timestamp


_warned: set[Path] = set()


def mailer_for(settings: Settings, *, sealer: FileSealer) -> Mailer:
    """SMTP when smtp_url is set; otherwise the outbox folder (files sealed by `sealer`),
    with a loud warning once."""
    if settings.smtp_url:
        server = SmtpServer.from_url(settings.smtp_url)
        return SmtpMailer(server, sender=settings.mail_from, ca_file=settings.smtp_ca_file)
    folder = settings.outbox_dir
    if folder not in _warned:
        _warned.add(folder)
        log.warning(
            "!!! No MINIMAKER_SMTP_URL set: email is written, sealed, as files into %s for an "
            "operator to read (`minimaker outbox list`); nobody receives it. Fine for development; "
            "set MINIMAKER_SMTP_URL in production. !!!",
            folder,
        )
    return OutboxDirMailer(folder, sender=settings.mail_from, sealer=sealer)
