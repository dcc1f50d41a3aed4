"""The audit tags of data-subject rights: requests and their lifecycle, archives, Art. 19
notices, objections and restrictions, erasure."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose
from minimaker.rights.rules import Status

#: A request moved to a status (`rights:request:<status>`).
REQUEST_MOVED: dict[Status, AuditTag] = {
    status: AuditTag("rights", "request", status.value, Purpose.SERVICE) for status in Status
}
REQUEST_RECEIVED = REQUEST_MOVED[Status.RECEIVED]
REQUEST_EXTENDED = AuditTag("rights", "request", "extended", Purpose.SERVICE)

ARCHIVE_CREATED = AuditTag("rights", "archive", "created", Purpose.SERVICE)
ARCHIVE_DOWNLOADED = AuditTag("rights", "archive", "downloaded", Purpose.SERVICE)
ARCHIVE_EXPIRED = AuditTag("rights", "archive", "expired", Purpose.SERVICE)
RECIPIENT_NOTIFIED = AuditTag("rights", "recipient", "notified", Purpose.SERVICE)

#: Processing the policy or the subject does not allow was asked for and refused.
PROCESSING_REFUSED = AuditTag("privacy", "processing", "refused", Purpose.SECURITY)
CONSENT_GIVEN = AuditTag("privacy", "consent", "given", Purpose.SERVICE)
CONSENT_WITHDRAWN = AuditTag("privacy", "consent", "withdrawn", Purpose.SERVICE)
OBJECTION_RECORDED = AuditTag("privacy", "objection", "recorded", Purpose.SERVICE)
OBJECTION_WITHDRAWN = AuditTag("privacy", "objection", "withdrawn", Purpose.SERVICE)
RESTRICTION_APPLIED = AuditTag("privacy", "restriction", "applied", Purpose.SERVICE)
RESTRICTION_LIFTED = AuditTag("privacy", "restriction", "lifted", Purpose.SERVICE)

# Art. 17: the subject appears by pseudonymous id only; the audit outlives them.
ERASURE_STARTED = AuditTag("subject", "erasure", "started", Purpose.SERVICE)
ERASURE_COMPLETED = AuditTag("subject", "erasure", "completed", Purpose.SERVICE)
ERASURE_REPLAYED = AuditTag("subject", "erasure", "replayed", Purpose.SERVICE)
