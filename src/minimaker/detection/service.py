"""The `detect` duty: the stream rules over the audit entries not read yet, and, at most every
`detection_held_interval_s`, the rules over what is held (the audit chain verified against
its checkpoints, blobs no row names, data keys of no subject). Each finding is an alert; an
audit chain that does not verify also opens an incident of the breach register, through its
service (`insert_incident`, source detection_rule, by the system).

Safe from many workers at once: the one `detection_state` row is locked while a batch is read
and its alerts written, so two workers never read the same batch; the held checks are claimed
by moving its time first. A rule re-run over the same window finds its alert (same rule, same
scope, overlapping window) and opens none.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, text

from minimaker.breach import service as register
from minimaker.breach.rules import Source
from minimaker.detection import events, stream
from minimaker.detection.rules import (
    INCIDENT_RULES,
    Candidate,
    Rule,
    Status,
    Window,
    counted,
)
from minimaker.detection.tables import DetectionAlert, DetectionState
from minimaker.kernel.actors import SYSTEM_DETECTION, Actor
from minimaker.kernel.container import Container
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.operations import audit_check, selfcheck_data, sweep
from minimaker.operations.audit_check import AuditVerdict

log = logging.getLogger("minimaker.detection")

_STATE_ID = 1
_CREATE_STATE = text(
    "INSERT INTO detection_state (id, last_seq) VALUES (:id, 0) ON CONFLICT (id) DO NOTHING"
)
#: Batches one run reads at most: a long backlog is read over several runs.
MAX_BATCHES = 10
#: The rules over what is held rather than over windows of the stream.
HELD_RULES = frozenset({Rule.AUDIT_CHAIN, Rule.ORPHAN_BLOBS, Rule.ORPHAN_KEYS})


def _state(uow: UnitOfWork) -> DetectionState:
    """The state row, locked for this unit (made on first use)."""
    uow.session.execute(_CREATE_STATE, {"id": _STATE_ID})
    row = uow.session.get(DetectionState, _STATE_ID, with_for_update=True, populate_existing=True)
    assert row is not None  # made just above, or by another worker before
    return row


def _seen(uow: UnitOfWork, found: Candidate) -> bool:
    """Whether this rule already alerted this scope for an overlapping window (for the held
    rules: for this finding at all)."""
    query = select(DetectionAlert.id).where(
        DetectionAlert.rule == found.rule.value, DetectionAlert.scope == found.scope
    )
    if found.rule not in HELD_RULES:
        query = query.where(
            DetectionAlert.window_start < found.window.end,
            DetectionAlert.window_end > found.window.start,
        )
    return uow.session.scalar(query.limit(1)) is not None


def _description(row: DetectionAlert) -> str:
    numbers = ", ".join(f"{k} {v}" for k, v in sorted(row.body.items()))
    return (
        f"Detection rule {row.rule}, alert {row.id}: {numbers}; window "
        f"{row.window_start.isoformat()} to {row.window_end.isoformat()}."
    )


def escalate_row(uow: UnitOfWork, row: DetectionAlert, *, by: Actor, staff_id: str | None) -> str:
    """Open an incident from the alert in the caller's unit (the 72-hour clock from now: the
    time the controller is aware of it) and mark the alert escalated; returns its id."""
    now = uow.c.clock.now()
    incident_id = register.insert_incident(
        uow,
        aware_at=now,
        description=_description(row),
        source=Source.DETECTION_RULE,
        by=by,
        staff_id=staff_id,
    )
    row.status, row.incident_id = Status.ESCALATED.value, incident_id
    row.decided_at, row.decided_by = now, staff_id
    obj = f"alert:{row.id}:incident:{incident_id}"
    uow.audit(events.ALERT_ESCALATED, actor=by, object=obj)
    return incident_id


def open_alerts(uow: UnitOfWork, found: Sequence[Candidate]) -> list[str]:
    """Open an alert for each candidate not seen before, audited; the grave ones escalated to
    an incident at once. Returns the new alerts' ids."""
    opened: list[str] = []
    now = uow.c.clock.now()
    for candidate in found:
        if _seen(uow, candidate):
            continue
        row = DetectionAlert(
            id=uuid.uuid4().hex,
            rule=candidate.rule.value,
            scope=candidate.scope,
            opened_at=now,
            window_start=candidate.window.start,
            window_end=candidate.window.end,
            body=dict(candidate.body),
            status=Status.OPEN.value,
        )
        uow.session.add(row)
        uow.session.flush()
        uow.audit(events.ALERT_OPENED, actor=SYSTEM_DETECTION, object=f"alert:{row.id}:{row.rule}")
        log.warning("detection rule %s opened alert %s", row.rule, row.id)
        if candidate.rule in INCIDENT_RULES:
            escalate_row(uow, row, by=SYSTEM_DETECTION, staff_id=None)
        opened.append(row.id)
    return opened


def scan_once(c: Container) -> tuple[int, bool]:
    """Read one batch of new entries and open its alerts, in one unit: (alerts opened,
    whether more entries wait). A log shorter than what was read makes the held checks due
    now (a cut chain, or a recorded restore: `audit verify` tells which)."""
    with c.uow() as uow:
        state = _state(uow)
        head = stream.last_seq(uow)
        if head < state.last_seq:
            log.error("the audit log ends at %d, before %d already read", head, state.last_seq)
            state.last_seq, state.held_checked_at = head, None
            uow.commit()
            return 0, True
        batch = c.settings.detection_batch
        entries = stream.new_entries(uow, state.last_seq, batch)
        if not entries:
            return 0, False
        opened = open_alerts(uow, stream.candidates(uow, entries))
        state.last_seq = entries[-1].seq
        uow.commit()
    return len(opened), len(entries) == batch


def _claim_held(c: Container) -> datetime | None:
    """Claim the held checks if due: the previous check's time (now, the first time); None if
    they are not due."""
    now = c.clock.now()
    with c.uow() as uow:
        state = _state(uow)
        last = state.held_checked_at
        interval = timedelta(seconds=c.settings.detection_held_interval_s)
        if last is not None and now - last < interval:
            return None
        state.held_checked_at = now
        uow.commit()
    return last or now


def _fingerprint(parts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


def chain_candidates(verdict: AuditVerdict, window: Window) -> Iterator[Candidate]:
    """Rule 4: every `audit verify` finding (edited, cut behind a checkpoint, reset, forged),
    once per distinct set of findings."""
    if verdict.ok:
        return
    scope = _fingerprint([f"{f.kind}:{f.message}" for f in verdict.findings])
    body: dict[str, int | str] = {"findings": len(verdict.findings), "entries": verdict.entries}
    body |= Counter(f.kind for f in verdict.findings)
    yield Candidate(Rule.AUDIT_CHAIN, scope, window, body)


def held_candidates(c: Container, since: datetime) -> list[Candidate]:
    """Rules 4 and 5, with the self-check's own functions (nothing here re-counts)."""
    window = Window(min(since, c.clock.now()), c.clock.now())
    found = list(chain_candidates(audit_check.verify_audit(c), window))
    blobs = sweep.count_orphans(c)
    found += counted(Rule.ORPHAN_BLOBS, f"count:{blobs}", window, blobs, 1)
    keys = selfcheck_data.count_orphan_keys(c)  # the self-check's own walk of the key store
    found += counted(Rule.ORPHAN_KEYS, f"count:{keys}", window, keys, 1)
    return found


def check_held(c: Container) -> int:
    """The held rules, if due; their alerts opened in one unit. Returns how many."""
    since = _claim_held(c)
    if since is None:
        return 0
    found = held_candidates(c, since)
    with c.uow() as uow:
        opened = open_alerts(uow, found)
        uow.commit()
    return len(opened)


def run_detection(c: Container) -> int:
    """The periodic duty: new audit entries first (a few batches at most), then the held
    rules when due. Returns how many alerts it opened."""
    opened, more = 0, True
    for _ in range(MAX_BATCHES):
        count, more = scan_once(c)
        opened += count
        if not more:
            break
    return opened + check_held(c)
