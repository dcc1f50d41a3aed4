"""Mail leaves encrypted (policy 5.1): a plain relay off loopback is refused at start-up, and
STARTTLS or implicit TLS verify the relay's certificate and name, against a real aiosmtpd
server on loopback with a certificate made here."""

from __future__ import annotations

import email
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from minimaker.adapters import mailers as mail
from minimaker.kernel.errors import ConfigurationError
from minimaker.settings import Settings
from tests.certificates import ServerCertificate, make_server_certificate
from tests.mailserver import free_port

TO = "bob@example.org"
MESSAGE_ID = "0123456789abcdef0123456789abcdef"


@dataclass
class TlsMailbox:
    """Keeps each message with the TLS version it came over (None: it came in plaintext)."""

    port: int = 0
    received: list[tuple[str | None, EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        ssl_object = server.transport.get_extra_info("ssl_object")
        version = ssl_object.version() if ssl_object is not None else None
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.received.append((version, message))
        return "250 Message accepted for delivery"


def _server_context(certificate: ServerCertificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert, certificate.key)
    return context


@contextmanager
def relay(
    certificate: ServerCertificate | None, *, implicit: bool = False, host: str = "127.0.0.1"
) -> Iterator[TlsMailbox]:
    """aiosmtpd on loopback: STARTTLS required (or implicit TLS), or plain without a cert."""
    box = TlsMailbox(port=free_port())
    options: dict[str, Any] = {}
    if certificate is not None and implicit:
        options = {"ssl_context": _server_context(certificate)}
    elif certificate is not None:
        options = {"tls_context": _server_context(certificate), "require_starttls": True}
    controller = Controller(box, hostname=host, port=box.port, **options)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> ServerCertificate:
    return make_server_certificate(tmp_path / "tls", name="relay")


def _send(url: str, ca_file: Path | None) -> None:
    settings = Settings(smtp_url=url, smtp_ca_file=ca_file)  # as every process starts
    server = mail.SmtpServer.from_url(url)
    mailer = mail.SmtpMailer(server, sender=settings.mail_from, ca_file=settings.smtp_ca_file)
    mailer.send(TO, "Your model is ready", "It is.", MESSAGE_ID)


# --- refused at start-up ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "smtp://relay.example.org",
        "smtp://mailer:hunter2@relay.example.org:587",
        "smtp://mailer:hunter2@relay.example.org:587?starttls=0",
        "smtp://192.0.2.25:25",
        "smtp://[2001:db8::25]:25",
        "smtp://0.0.0.0:25",
    ],
)
def test_a_plain_relay_off_loopback_is_refused_at_start_up_naming_host_and_fix(
    url: str,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings(smtp_url=url)
    message = refused.value.message
    host = mail.SmtpServer.from_url(url).host
    assert f"to {host} without TLS" in message
    assert "smtps://" in message and "?starttls=1" in message
    assert "hunter2" not in message and "mailer" not in message


def test_the_mailer_itself_refuses_a_plain_relay_off_loopback(tmp_path: Path) -> None:
    # Settings copied without validation (model_copy) must not slip a plain relay through.
    unchecked = Settings(data_dir=tmp_path).model_copy(update={"smtp_url": "smtp://192.0.2.25"})
    with pytest.raises(ConfigurationError, match="without TLS"):
        mail.SmtpMailer(mail.SmtpServer.from_url(str(unchecked.smtp_url)), sender="a@example.org")


@pytest.mark.parametrize(
    "url",
    [
        "smtp://127.0.0.1:2525",
        "smtp://127.0.0.53:25",
        "smtp://localhost:25",
        "smtp://[::1]:25",
        "smtps://relay.example.org",
        "smtp://relay.example.org:587?starttls=1",
    ],
)
def test_a_loopback_relay_may_be_plain_and_any_other_needs_tls(url: str) -> None:
    assert Settings(smtp_url=url).smtp_url == url


def test_an_unreadable_ca_file_is_refused_at_start_up(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    for ca_file in (not_pem, tmp_path / "absent.pem"):
        with pytest.raises(ConfigurationError, match="cannot be read as PEM certificates"):
            Settings(smtp_url="smtps://relay.example.org", smtp_ca_file=ca_file)


def test_the_client_context_verifies_certificate_and_name_with_tls_1_2_at_least() -> None:
    context = mail.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


# --- delivery over TLS, against a real relay ----------------------------------------------


def test_mail_is_delivered_over_starttls_to_a_relay_whose_ca_is_trusted(
    certificate: ServerCertificate,
) -> None:
    with relay(certificate) as box:
        _send(f"smtp://127.0.0.1:{box.port}?starttls=1", certificate.ca)
    [(version, message)] = box.received
    assert version in ("TLSv1.2", "TLSv1.3")
    assert message["To"] == TO


def test_mail_is_delivered_over_implicit_tls_to_a_relay_whose_ca_is_trusted(
    certificate: ServerCertificate,
) -> None:
    with relay(certificate, implicit=True) as box:
        _send(f"smtps://127.0.0.1:{box.port}", certificate.ca)
    [(version, message)] = box.received
    assert version in ("TLSv1.2", "TLSv1.3")
    assert message["Subject"] == "Your model is ready"


@pytest.mark.parametrize("scheme", ["starttls", "implicit"])
def test_a_relay_whose_certificate_nobody_we_trust_signed_gets_nothing(
    certificate: ServerCertificate, tmp_path: Path, scheme: str
) -> None:
    stranger = make_server_certificate(tmp_path / "stranger", name="stranger")
    with relay(certificate, implicit=scheme == "implicit") as box:
        url = (
            f"smtps://127.0.0.1:{box.port}"
            if scheme == "implicit"
            else f"smtp://127.0.0.1:{box.port}?starttls=1"
        )
        for ca_file in (None, stranger.ca):  # the system's CAs; another CA of ours
            with pytest.raises(mail.DeliveryFailed) as failed:
                _send(url, ca_file)
            assert failed.value.reason == "SSLCertVerificationError"
            assert not failed.value.permanent  # the operator fixes the relay; mail waits
    assert box.received == []


def test_a_relay_whose_certificate_names_another_host_gets_nothing(
    certificate: ServerCertificate,
) -> None:
    # The certificate names 127.0.0.1, ::1 and localhost; this relay answers on 127.0.0.2.
    refused = pytest.raises(mail.DeliveryFailed, match="SSLCertVerificationError")
    with relay(certificate, host="127.0.0.2") as box, refused:
        _send(f"smtp://127.0.0.2:{box.port}?starttls=1", certificate.ca)
    assert box.received == []


def test_a_relay_that_does_not_offer_starttls_gets_nothing_not_plaintext(
    certificate: ServerCertificate,
) -> None:
    refused = pytest.raises(mail.DeliveryFailed, match="SMTPNotSupportedError")
    with relay(None) as box, refused:
        _send(f"smtp://127.0.0.1:{box.port}?starttls=1", certificate.ca)
    assert box.received == []
