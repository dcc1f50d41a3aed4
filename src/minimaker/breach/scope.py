"""Scoping a breach from MiniMaker's own records (policy 8; Art. 33(3)(a), 34(3)(a)).

Given what an attacker had - a staff account, a time window, blobs, a storage location or a
backup, a key - find whom it concerns and how much of what, from the personal-data registry
(kernel/personal_data.py), the audit chain and the key store, rather than from what a person
types in. Read-only: nothing is written, and the subject ids found go only into the Scope,
for the notices (never to a log, an error or the audit).

Encryption (Art. 34(3)(a)): photos, models and sealed columns are encrypted under each
subject's data key, which the master key wraps; the master key is in neither the data
database nor a backup, and the data keys are in the key store, which no backup holds. So a
copy of the database, the blobs or a backup, with no key exposed, leaves that data
unintelligible; a key exposed, or data read through the running service, does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import select, text

from minimaker.adapters.audit_chain import STAFF_ENTRIES, AuditEntry
from minimaker.breach import scope_stores
from minimaker.breach.exposure import CategoryCount, Exposure, ExposureKind, Scope
from minimaker.breach.scope_rows import MAX_BLOBS, ExposureInvalid, Finding, Found, count_rows
from minimaker.kernel.actors import Actor
from minimaker.kernel.container import Container
from minimaker.kernel.errors import NotFound
from minimaker.kernel.ids import is_id
from minimaker.kernel.unit_of_work import UnitOfWork

STAFF_NOTE = (
    "A staff account reads subjects' data decrypted through the service: the audit names "
    "whom it touched, not which categories, so every record of those subjects is counted "
    "(an upper bound)."
)


def scope(c: Container, exposures: Sequence[Exposure]) -> Scope:
    """The affected subjects, per category their numbers and records, and whether everything
    exposed was encrypted under keys the breach did not reach; each exposure checked first."""
    if not exposures:
        raise ExposureInvalid("exposures", "name at least one thing that was exposed")
    now = c.clock.now()
    for e in exposures:
        check(e, now=now)
    total = Found()
    findings = []
    with c.uow(write=False) as uow:
        for e in exposures:
            finding = _FINDERS[e.kind](c, uow, e, now)
            findings.append(finding)
            total.merge(finding.found)
    encrypted = all(f.encrypted for f in findings)
    why = " ".join(dict.fromkeys(f.why for f in findings if f.encrypted is encrypted))
    return Scope(
        exposures=tuple(exposures),
        subject_ids=frozenset(total.subjects),
        categories=_categories(total),
        encrypted_under_uncompromised_keys=encrypted,
        encryption_note=why,
        computed_at=now,
        notes=tuple(dict.fromkeys(total.notes)),
    )


def check(e: Exposure, *, now: datetime) -> None:
    """ExposureInvalid for an exposure that cannot be scoped as given."""
    if not isinstance(e, Exposure) or not isinstance(e.kind, ExposureKind):
        raise ExposureInvalid("kind", f"must be one of {', '.join(k.value for k in ExposureKind)}")
    for name in ("start", "end"):
        moment = getattr(e, name)
        if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
            raise ExposureInvalid(name, "must be an aware datetime (UTC)")
    if e.start is not None and e.end is not None and e.end <= e.start:
        raise ExposureInvalid("end", "must be after start")
    if e.start is not None and e.start > now:
        raise ExposureInvalid("start", "is in the future")
    if e.kind is ExposureKind.WINDOW and e.start is None:
        raise ExposureInvalid("start", "a window needs its start")
    if e.kind is ExposureKind.STAFF_ACCOUNT and not is_id(e.ref):
        raise ExposureInvalid("ref", "must be a staff id (32 lowercase hexadecimal characters)")
    if e.kind is ExposureKind.BLOBS:
        _check_blobs(e.blob_ids)
    elif e.blob_ids:
        raise ExposureInvalid("blob_ids", "only a blobs exposure names blobs")
    if e.kind in (ExposureKind.LOCATION, ExposureKind.KEY):
        scope_stores.check_ref(e.kind.value, e.ref)


def _check_blobs(blob_ids: tuple[str, ...]) -> None:
    if not blob_ids:
        raise ExposureInvalid("blob_ids", "name at least one blob")
    if len(blob_ids) > MAX_BLOBS:
        raise ExposureInvalid("blob_ids", f"at most {MAX_BLOBS} per exposure")
    if not all(is_id(b) for b in blob_ids):
        raise ExposureInvalid("blob_ids", "each must be 32 lowercase hexadecimal characters")


def audit_ts(moment: datetime) -> str:
    """A moment as the audit chain writes its `ts` (UTC, microseconds: ordered as text)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _touched(uow: UnitOfWork, e: Exposure, *, actor: str | None) -> set[str]:
    """The subjects of the audit entries in [start, end) (of `actor`, if given): an indexed
    range scan (ix_audit_log_staff_ts_subject, ix_audit_log_ts_subject) returning ids only."""
    query = select(AuditEntry.subject).where(AuditEntry.subject.is_not(None))
    if actor is not None:  # a staff account: the partial index over staff entries
        query = query.where(AuditEntry.actor == actor, text(STAFF_ENTRIES))
    if e.start is not None:
        query = query.where(AuditEntry.ts >= audit_ts(e.start))
    if e.end is not None:
        query = query.where(AuditEntry.ts < audit_ts(e.end))
    return {str(s) for s in uow.session.scalars(query.distinct())}


def _staff(c: Container, uow: UnitOfWork, e: Exposure, now: datetime) -> Finding:
    if not _staff_exists(c, uow, e.ref):
        raise NotFound("staff member")
    subjects = _touched(uow, e, actor=str(Actor.staff(e.ref)))
    found = count_rows(uow, c.personal_data, subjects)
    found.notes.append(STAFF_NOTE)
    why = "The staff account read the data decrypted through the service: no key stood between."
    return Finding(found, encrypted=False, why=why)


def _staff_exists(c: Container, uow: UnitOfWork, staff_id: str) -> bool:
    # The staff table, found through the registry's declaration (staff/tables.py declares it
    # not personal): scoping reads no other feature's tables module.
    table = c.personal_data.get("staff").table
    return uow.session.scalar(select(table.id).where(table.id == staff_id)) is not None


def _window(c: Container, uow: UnitOfWork, e: Exposure, now: datetime) -> Finding:
    found = count_rows(uow, c.personal_data, _touched(uow, e, actor=None))
    found.notes.append(
        "A window counts every subject whose data the audit shows processed in it, and every "
        "record of theirs (an upper bound)."
    )
    why = "Within the window the service processed the data decrypted."
    return Finding(found, encrypted=False, why=why)


def _categories(found: Found) -> tuple[CategoryCount, ...]:
    """Per category of the policy file, the subjects with records in it and the records."""
    return tuple(
        CategoryCount(category, subjects=len(per), records=sum(per.values()))
        for category, per in sorted(found.records.items())
        if per
    )


_FINDERS: dict[ExposureKind, Callable[[Container, UnitOfWork, Exposure, datetime], Finding]] = {
    ExposureKind.STAFF_ACCOUNT: _staff,
    ExposureKind.WINDOW: _window,
    ExposureKind.BLOBS: scope_stores.blobs,
    ExposureKind.LOCATION: scope_stores.location,
    ExposureKind.KEY: scope_stores.key,
}
