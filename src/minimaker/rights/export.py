"""The rights sections of an access or portability archive: preferences (objections,
consents and restriction), requests with their events, and disclosures to recipients."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from minimaker.accounts import export as accounts
from minimaker.kernel.personal_data import (
    SCHEMA_TIME,
    Exported,
    iso,
    schema_object,
)
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import intake
from minimaker.rights.processing import consentable, objectable
from minimaker.rights.tables import Consent, Disclosure, Objection, RequestEvent, RightsRequest

#: Purpose -> on/off: which purposes appear is the policy in force's to say (objectable ones,
#: consent ones), so the schema names no purpose.
_SWITCHES = {"type": "object", "additionalProperties": {"type": "boolean"}}
_SINCE = {"type": "object", "additionalProperties": SCHEMA_TIME}

#: JSON Schema of the preferences section (portability, Art. 20).
PREFERENCES_SCHEMA = schema_object(
    {
        "objections": _SWITCHES,
        "objected_since": _SINCE,
        "consents": _SWITCHES,
        "consented_since": _SINCE,
        "restricted": {"type": "boolean"},
        "restricted_since": SCHEMA_TIME,
    }
)


def preferences(uow: UnitOfWork, subject_id: str) -> Exported:
    """The subject's objections (Art. 21), consents (Art. 7) and restriction (Art. 18), each
    since when."""
    query = select(Objection.purpose, Objection.since).where(Objection.subject_id == subject_id)
    since = {purpose: at for purpose, at in uow.session.execute(query)}
    query = select(Consent.purpose, Consent.given_at).where(Consent.subject_id == subject_id)
    given = {purpose: at for purpose, at in uow.session.execute(query)}
    restricted_at = accounts.restricted_since(uow, subject_id)
    policy = uow.c.policy
    return Exported(
        {
            "objections": {p: p in since for p in objectable(policy)},
            "objected_since": {p: iso(at) for p, at in sorted(since.items())},
            "consents": {p: p in given for p in consentable(policy)},
            "consented_since": {p: iso(at) for p, at in sorted(given.items())},
            "restricted": restricted_at is not None,
            "restricted_since": iso(restricted_at),
        }
    )


def requests(uow: UnitOfWork, subject_id: str) -> Exported:
    """Each request with its decrypted details and its events, as the subject sees them."""
    rows = uow.session.scalars(
        select(RightsRequest)
        .where(RightsRequest.subject_id == subject_id)
        .order_by(RightsRequest.received_at)
    ).all()
    events: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    query = select(RequestEvent).where(RequestEvent.request_id.in_(list(events)))
    for e in uow.session.scalars(query.order_by(RequestEvent.id)):
        events[e.request_id].append(
            {"at": iso(e.at), "from": e.from_status, "to": e.to_status, "note": e.note}
        )
    return Exported(
        [
            {
                "id": row.id,
                "type": row.type,
                "status": row.status,
                "channel": row.channel,
                "details": intake.open_details(uow, row),
                # What the officer recorded about it: how it was completed by hand, and how
                # the person's identity was checked when staff recorded it (Art. 15(1)).
                "resolution": intake.open_sealed(
                    uow, row, "request-resolution", row.resolution_enc
                ),
                "identity_evidence": intake.open_sealed(
                    uow, row, "request-evidence", row.evidence_enc
                ),
                "received_at": iso(row.received_at),
                "due_at": iso(row.due_at),
                "completed_at": iso(row.completed_at),
                "extension_reason": row.extension_reason,
                "rejection_reason": row.rejection_reason,
                "events": events[row.id],
            }
            for row in rows
        ]
    )


def disclosures(uow: UnitOfWork, subject_id: str) -> Exported:
    """Every copy of the subject's data given to a recipient (Art. 15(1)(c), 19)."""
    query = select(Disclosure).where(Disclosure.subject_id == subject_id)
    return Exported(
        [
            {
                "recipient": d.recipient,
                "purpose": d.purpose,
                "categories": [x for x in d.categories.split(",") if x],
                "at": iso(d.at),
            }
            for d in uow.session.scalars(query.order_by(Disclosure.at))
        ]
    )
