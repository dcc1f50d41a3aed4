"""The audit tags of staff: accounts, sign-in, refusals, and what staff did with requests."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

MEMBER_CREATED = AuditTag("staff", "member", "created", Purpose.SECURITY)
MEMBER_DISABLED = AuditTag("staff", "member", "disabled", Purpose.SECURITY)
LOGIN_FAILED = AuditTag("staff", "login", "failed", Purpose.SECURITY)
SESSION_CREATED = AuditTag("staff", "session", "created", Purpose.SECURITY)
SESSION_ENDED = AuditTag("staff", "session", "ended", Purpose.SECURITY)
ACCESS_DENIED = AuditTag("staff", "access", "denied", Purpose.SECURITY)
QUEUE_VIEWED = AuditTag("staff", "queue", "viewed", Purpose.SERVICE)

#: What a staff member did with one request, by verb (`staff:request:<verb>`).
REQUEST: dict[str, AuditTag] = {
    verb: AuditTag("staff", "request", verb, Purpose.SERVICE)
    for verb in (
        "viewed",
        "extended",
        "rejected",
        "paused",
        "resumed",
        "recorded",
        "completed",  # by the officer, stating what was done (issue 8)
    )
}
#: A request whose fulfilment failed for good was put before the officer (by the system).
REQUEST_REFERRED = AuditTag("staff", "request", "referred", Purpose.SERVICE)
#: The closed requests were listed (ids and dates only, like the queue).
CLOSED_VIEWED = AuditTag("staff", "closed", "viewed", Purpose.SERVICE)
