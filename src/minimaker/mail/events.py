"""The audit tags of mail: delivered, failed for good, an outbox file read by the operator."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

MESSAGE_SENT = AuditTag("mail", "message", "sent", Purpose.SERVICE)
MESSAGE_FAILED = AuditTag("mail", "message", "failed", Purpose.SERVICE)
OUTBOX_FILE_READ = AuditTag("mail", "outbox_file", "read", Purpose.SERVICE)
