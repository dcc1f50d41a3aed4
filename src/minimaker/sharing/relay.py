"""The SMTP relay is a processor (Art. 28): each message handed to it is a disclosure.

A message to a subject gives the relay their address and the text (categories account and
message); an Art. 19 notice to another processor's contact gives it the text only, which
names the subject by pseudonymous id - still their personal data to us (Recital 26), so it
is logged too. Mail about nobody (subject_id None) is checked and audited, not logged.
"""

from __future__ import annotations

from collections.abc import Mapping

from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from minimaker.kernel.purposes import Purpose
from minimaker.sharing import rules, service

#: What a message to its subject discloses: their address, and the message itself.
TO_SUBJECT = ("account", "message")
#: What a message about a subject to someone else (an Art. 19 notice) discloses.
ABOUT_SUBJECT = ("message",)


def message_share(
    c: Container, *, subject_id: str | None, content: Mapping[str, str]
) -> service.Share:
    """The share a message is to the relay: service, to the subject or about them."""
    contacts = {p.contact.lower() for p in c.policy.processors.values()}
    about_only = content.get("to", "").strip().lower() in contacts
    return service.Share(
        processor=c.settings.smtp_processor,
        purpose=Purpose.SERVICE,
        categories=ABOUT_SUBJECT if about_only else TO_SUBJECT,
        payload=dict(content),
        subject_id=subject_id,
    )


def relay_problem(c: Container) -> str | None:
    """Why mail may not go through the configured relay; None if it may, or if no SMTP is set."""
    if not c.settings.smtp_url:
        return None
    name = c.settings.smtp_processor
    probe = service.Share(name, Purpose.SERVICE, TO_SUBJECT, payload=None)
    found = service.problem(c.policy, probe, c.clock.now().date())
    if found is not None:
        return f"MINIMAKER_SMTP_PROCESSOR {name}: {found[1]}"
    treatment = c.policy.processors[name].treatment.value
    if treatment != rules.Treatment.PERSONAL.value:
        # The relay must see the address to deliver: it cannot receive less than personal.
        return f"MINIMAKER_SMTP_PROCESSOR {name}: a relay receives personal data, not {treatment}"
    return None


def check_relay(c: Container) -> None:
    """Start-up: refuse to run with SMTP set and no lawful processor entry for the relay."""
    found = relay_problem(c)
    if found is not None:
        raise ConfigurationError(f"{found} (policy 7.1, 10.2)")
