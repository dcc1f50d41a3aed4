"""The one way data leaves for a third party (policy 7.1-7.3, 10.2; Art. 28, 44-46).

`clear` checks a share against the policy (the processor, its DPA, purpose, categories and
region) and the subject (objections, consent, restriction), and shapes the payload as the
processor's entry demands; only what it returns may be sent. `record` then writes the
disclosure log (the recipients of the access archive, the Art. 19 notices) or, for
anonymised aggregates that concern nobody, the audit. `share` does all three in order.
Every refusal is audited and raised before anything leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.purposes import Purpose
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.policy import Policy
from minimaker.policy.residency import transfer_problem
from minimaker.rights import processing, recipients
from minimaker.sharing import events, rules
from minimaker.sharing.rules import PayloadRefused, Refusal, ShareRefused, Treatment

#: The service secret under which subject ids become per-processor pseudonyms (Art. 4(5)).
PSEUDONYM_SECRET = "sharing_pseudonyms"  # noqa: S105 - the key store name, not a key


@dataclass(frozen=True)
class Share:
    """What a caller wants to send: to which processor, for what, which categories, whose."""

    processor: str
    purpose: Purpose
    categories: tuple[str, ...]
    payload: Any
    subject_id: str | None = None


@dataclass(frozen=True)
class Cleared:
    """A share the policy allows, and its payload as it may leave; only `clear` makes one."""

    share: Share
    treatment: Treatment
    payload: Any
    _by: object = field(repr=False, compare=False)


_CLEARED_HERE = object()


def entry(policy: Policy, name: str) -> rules.Entry | None:
    """The policy's processor `name` as the sharing rule reads it; None if it names none."""
    p = policy.processors.get(name)
    if p is None:
        return None
    region = policy.regions.get(p.region)
    problem = (
        f"region {p.region} is not declared"
        if region is None
        else transfer_problem(p.region, region)
    )
    return rules.Entry(
        name=name,
        purposes=frozenset(p.purposes),
        categories=frozenset(p.categories),
        treatment=Treatment(p.treatment.value),
        dpa_signed=p.dpa.signed if p.dpa else None,
        dpa_expires=p.dpa.expires if p.dpa else None,
        transfer_problem=problem,
    )


def problem(policy: Policy, share: Share, today: Any) -> tuple[Refusal, str] | None:
    """Why the policy refuses `share` (before any subject is asked); None if it allows it."""
    declared = policy.purposes.get(share.purpose.value)
    return rules.refusal(
        entry(policy, share.processor),
        purpose=share.purpose.value,
        categories=share.categories,
        declared=frozenset(declared.categories) if declared else None,
        today=today,
    )


def clear(uow: UnitOfWork, share: Share, *, actor: Actor) -> Cleared:
    """`share` with its payload as it may leave; else an audited ShareRefused,
    PayloadRefused or ProcessingRefused (the subject's objection, consent or restriction)."""
    found = problem(uow.c.policy, share, uow.c.clock.now().date())
    if found is not None:
        code, reason = found
        known = share.processor if code is not Refusal.UNKNOWN_PROCESSOR else "unknown"
        _refuse(uow, share, actor, f"processor:{known}:{code.value}")
        raise ShareRefused(known, code, reason)
    treatment = Treatment(uow.c.policy.processors[share.processor].treatment.value)
    payload = _shaped(uow, share, treatment, actor)
    if share.subject_id is not None:
        processing.ensure_allowed(uow, share.subject_id, share.purpose, share.categories)
    return Cleared(share, treatment, payload, _CLEARED_HERE)


def _shaped(uow: UnitOfWork, share: Share, treatment: Treatment, actor: Actor) -> Any:
    """The payload as the treatment demands, or an audited PayloadRefused."""
    reason = rules.subject_problem(treatment, share.subject_id)
    sid = share.subject_id
    if reason is None and treatment is Treatment.ANONYMISED:
        reason = rules.aggregates_problem(share.payload)
    elif reason is None and treatment is Treatment.PSEUDONYMISED and sid is not None:
        if not isinstance(share.payload, Mapping) or "subject" in share.payload:
            reason = "a pseudonymised payload is a mapping; the service adds its subject"
        elif rules.names(share.payload, sid):
            reason = "a pseudonymised payload names its subject; the service adds the pseudonym"
    if reason is not None:
        _refuse(uow, share, actor, f"processor:{share.processor}:{Refusal.NAMES_SUBJECT.value}")
        raise PayloadRefused(share.processor, reason)
    if treatment is Treatment.PSEUDONYMISED and sid is not None:
        key = uow.c.secret(PSEUDONYM_SECRET)
        return {"subject": rules.pseudonym(key, share.processor, sid), **share.payload}
    return share.payload


def _refuse(uow: UnitOfWork, share: Share, actor: Actor, what: str) -> None:
    # Stands in the audit although the unit rolls back (Art. 5(2)); ids and codes only.
    uow.audit_refusal(events.SHARE_REFUSED, actor=actor, subject=share.subject_id, object=what)


def record(uow: UnitOfWork, cleared: Cleared, *, actor: Actor) -> None:
    """Log that `cleared` left, in the caller's unit: a disclosure row for its subject (the
    access archive's recipients, Art. 19), or for aggregates the publication in the audit."""
    if cleared._by is not _CLEARED_HERE:
        raise TypeError("only a share the sharing service cleared can be recorded")
    share = cleared.share
    if cleared.treatment is Treatment.ANONYMISED:
        # Aggregates concern no one subject: there is nobody to list them for (policy 7.3).
        uow.audit(
            events.AGGREGATES_PUBLISHED,
            actor=actor,
            object=f"processor:{share.processor}:rows:{len(cleared.payload)}",
            purpose=share.purpose,
        )
        return
    if share.subject_id is not None:
        recipients.record_disclosure(
            uow,
            subject_id=share.subject_id,
            recipient=share.processor,
            categories=list(share.categories),
            purpose=share.purpose.value,
        )
    uow.audit(
        events.DISCLOSURE_RECORDED,
        actor=actor,
        subject=share.subject_id,
        object=f"processor:{share.processor}:{cleared.treatment.value}",
        purpose=share.purpose,
    )


def share(c: Container, share: Share, *, actor: Actor, send: Callable[[Any], None]) -> Cleared:
    """Clear `share`, hand its payload to `send` (the transport), then record it.

    No transaction is open while `send` runs (an HTTP or SMTP exchange must not hold the
    database); if `send` raises, nothing is recorded, since nothing was received.
    """
    with c.uow(write=False) as uow:
        cleared = clear(uow, share, actor=actor)
    send(cleared.payload)
    with c.uow() as uow:
        record(uow, cleared, actor=actor)
        uow.commit()
    return cleared
