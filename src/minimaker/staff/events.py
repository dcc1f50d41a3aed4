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
MEMBER_GRANTED = AuditTag("staff", "member", "granted", Purpose.SECURITY)  # role or term
TRAINING_RECORDED = AuditTag("staff", "training", "recorded", Purpose.SECURITY)
POLICY_ACKNOWLEDGED = AuditTag("staff", "policy", "acknowledged", Purpose.SECURITY)
#: The password was right and no second factor is enrolled: an enrolment-only session.
ENROLMENT_SESSION = AuditTag("staff", "enrolment", "session", Purpose.SECURITY)
ENROLMENT_BEGUN = AuditTag("staff", "enrolment", "begun", Purpose.SECURITY)
SECOND_FACTOR_ENROLLED = AuditTag("staff", "second_factor", "enrolled", Purpose.SECURITY)
SECOND_FACTOR_FAILED = AuditTag("staff", "second_factor", "failed", Purpose.SECURITY)
RECOVERY_CODE_USED = AuditTag("staff", "recovery_code", "used", Purpose.SECURITY)
#: A subject's personal data shown to staff, with the stated reason (policy 5.2, 11.2); the
#: purpose is the reason's, given when written.
SUBJECT_DATA_READ = AuditTag("staff", "subject_data", "read", Purpose.SERVICE)
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
