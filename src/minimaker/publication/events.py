"""The audit tags of publication: versions published or refused, users told, acknowledgements."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

# Art. 5(2), 12(1): which text was in force when, and that users were told, is accountability.
VERSION_PUBLISHED = AuditTag("policy", "version", "published", Purpose.SERVICE)
# A version string reused with other content would rewrite what users were shown: refused.
VERSION_REFUSED = AuditTag("policy", "version", "refused", Purpose.SECURITY)
# Counts only: the addresses live sealed in the outbox, the ids in its own entries.
USERS_NOTIFIED = AuditTag("policy", "users", "notified", Purpose.SERVICE)
ACKNOWLEDGED = AuditTag("policy", "version", "acknowledged", Purpose.SERVICE)
