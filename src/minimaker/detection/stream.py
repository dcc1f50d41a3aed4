"""The rules over the audit stream, run incrementally: the entries after the last seq read (a
range of the primary key), then, for each window those entries fall in, that window's count
by an indexed range: a staff account's entries by the partial staff index (actor, ts,
subject), the sign-in failures and rights requests of a window by the (ts, subject) index.
Never a walk of the whole log.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from minimaker.adapters.audit_chain import STAFF_ENTRIES, AuditEntry
from minimaker.detection import roles
from minimaker.detection.rules import (
    EVERYONE,
    Candidate,
    Entry,
    Rule,
    Window,
    WorkingHours,
    counted,
    distinct_subjects,
    failed_account,
    parse_days,
    request_type,
    staff_id,
    stamp,
    windows_for,
)
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.rights import events as rights_events
from minimaker.settings import Settings
from minimaker.staff import events as staff_events
from minimaker.staff import service as staff

_FAILED = (str(staff_events.LOGIN_FAILED), str(staff_events.SECOND_FACTOR_FAILED))
_DENIED = str(staff_events.ACCESS_DENIED)
_RECEIVED = str(rights_events.REQUEST_RECEIVED)
_EXPORTS = frozenset({"access", "portability"})
_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.ts,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.subject,
    AuditEntry.object,
)


def _entry(row: Sequence[object]) -> Entry:
    seq, ts, actor, action, subject, object_ = row
    return Entry(
        int(str(seq)),
        datetime.fromisoformat(str(ts)),
        str(actor),
        str(action),
        None if subject is None else str(subject),
        None if object_ is None else str(object_),
    )


def new_entries(uow: UnitOfWork, after: int, limit: int) -> list[Entry]:
    """The entries after seq `after`, oldest first, at most `limit`."""
    query = select(*_COLUMNS).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    return [_entry(row) for row in uow.session.execute(query)]


def last_seq(uow: UnitOfWork) -> int:
    """The chain's last seq in the log (0 when empty)."""
    return int(uow.session.scalar(select(func.max(AuditEntry.seq))) or 0)


def _staff_window(uow: UnitOfWork, actor: str, window: Window) -> list[Entry]:
    # Word for word the partial index's condition, as text, so both planners use it.
    query = select(*_COLUMNS).where(
        AuditEntry.actor == actor,
        text(STAFF_ENTRIES),
        AuditEntry.ts >= stamp(window.start),
        AuditEntry.ts < stamp(window.end),
    )
    return [_entry(row) for row in uow.session.execute(query)]


def _action_window(uow: UnitOfWork, actions: Sequence[str], window: Window) -> list[Entry]:
    query = select(*_COLUMNS).where(
        AuditEntry.ts >= stamp(window.start),
        AuditEntry.ts < stamp(window.end),
        AuditEntry.action.in_(actions),
    )
    return [_entry(row) for row in uow.session.execute(query)]


def working_hours(s: Settings) -> WorkingHours:
    """The working hours and days of the settings, in their zone."""
    return WorkingHours(
        start_hour=s.detection_work_start_hour,
        end_hour=s.detection_work_end_hour,
        days=parse_days(s.detection_work_days),
        zone=ZoneInfo(s.detection_timezone),
    )


def _staff_rules(
    s: Settings, member: str, entries: list[Entry], role: str | None, window: Window, rule: Rule
) -> Iterator[Candidate]:
    extra = {"staff_id": member}
    if rule is Rule.MANY_SUBJECTS:
        count, threshold = distinct_subjects(entries), s.detection_subjects_threshold
    elif rule is Rule.OUTSIDE_ROLE:
        count = sum(1 for e in entries if not roles.permitted(role, e.action))
        threshold = 1
    elif rule is Rule.ACCESS_DENIED:
        count, threshold = (
            sum(1 for e in entries if e.action == _DENIED),
            s.detection_denied_threshold,
        )
    else:
        hours = working_hours(s)
        count = sum(1 for e in entries if hours.outside(e.ts))
        threshold = s.detection_outside_hours_threshold
    yield from counted(rule, member, window, count, threshold, **extra)


def _staff_lengths(s: Settings) -> dict[Rule, int]:
    return {
        Rule.MANY_SUBJECTS: s.detection_subjects_window_s,
        Rule.OUTSIDE_ROLE: s.detection_role_window_s,
        Rule.ACCESS_DENIED: s.detection_role_window_s,
        Rule.OUTSIDE_HOURS: s.detection_outside_hours_window_s,
    }


def staff_candidates(uow: UnitOfWork, entries: list[Entry]) -> Iterator[Candidate]:
    """Rules 1 and 2: each staff account with new entries, over the windows they fall in."""
    s = uow.c.settings
    moments: dict[str, list[datetime]] = defaultdict(list)
    for e in entries:
        if staff_id(e.actor):
            moments[e.actor].append(e.ts)
    if not moments:
        return
    members = {m.id: m for m in staff.list_staff(uow.c, by=None)}
    for actor, times in sorted(moments.items()):
        member = staff_id(actor) or ""
        row = members.get(member)
        role = row.role if row is not None and row.disabled_at is None else None
        read: dict[Window, list[Entry]] = {}  # rules of equal windows read each once
        for rule, length in _staff_lengths(s).items():
            for window in windows_for(times, length):
                if window not in read:
                    read[window] = _staff_window(uow, actor, window)
                yield from _staff_rules(s, member, read[window], role, window, rule)


def failed_candidates(uow: UnitOfWork, entries: list[Entry]) -> Iterator[Candidate]:
    """Rule 3: failed staff sign-ins per account and overall, in the windows of new ones."""
    s = uow.c.settings
    times = [e.ts for e in entries if e.action in _FAILED]
    for window in windows_for(times, s.detection_failed_window_s):
        found = _action_window(uow, _FAILED, window)
        per = Counter(failed_account(e.object) for e in found)
        for member, count in sorted(per.items(), key=lambda kv: kv[0] or ""):
            if member is not None:
                yield from counted(
                    Rule.FAILED_SIGN_INS_ACCOUNT,
                    member,
                    window,
                    count,
                    s.detection_failed_account_threshold,
                    staff_id=member,
                )
        yield from counted(
            Rule.FAILED_SIGN_INS, EVERYONE, window, len(found), s.detection_failed_total_threshold
        )


def request_candidates(uow: UnitOfWork, entries: list[Entry]) -> Iterator[Candidate]:
    """Rule 6: bursts of erasure, and of access or portability, requests received."""
    s = uow.c.settings
    times = [e.ts for e in entries if e.action == _RECEIVED]
    for window in windows_for(times, s.detection_requests_window_s):
        kinds = [request_type(e.object) for e in _action_window(uow, (_RECEIVED,), window)]
        erasures = sum(1 for k in kinds if k == "erasure")
        exports = sum(1 for k in kinds if k in _EXPORTS)
        yield from counted(
            Rule.ERASURE_BURST, EVERYONE, window, erasures, s.detection_erasure_threshold
        )
        yield from counted(
            Rule.EXPORT_BURST, EVERYONE, window, exports, s.detection_export_threshold
        )


def candidates(uow: UnitOfWork, entries: list[Entry]) -> list[Candidate]:
    """Every stream rule's candidates for the windows `entries` fall in, earliest first."""
    found = [
        *staff_candidates(uow, entries),
        *failed_candidates(uow, entries),
        *request_candidates(uow, entries),
    ]
    return sorted(found, key=lambda c: (c.window.start, c.rule.value, c.scope))
