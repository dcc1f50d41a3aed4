"""The audit tags of operations: schema upgrades, master-key rotation, backups and restores."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

SCHEMA_UPGRADED = AuditTag("operations", "schema", "upgraded", Purpose.SERVICE)
# Art. 32(1): keys kept secret and renewed, and the ability to restore data after an incident,
# are security measures; their use is accounted for like any access.
MASTER_KEY_ROTATED = AuditTag("operations", "master_key", "rotated", Purpose.SECURITY)
BACKUP_CREATED = AuditTag("backup", "data", "created", Purpose.SECURITY)
BACKUP_RESTORED = AuditTag("backup", "data", "restored", Purpose.SECURITY)
# Art. 5(1)(e), 32(1)(b): what killed writers left (temp files, blobs no row names) is removed;
# the entry carries counts only, never a blob id or a file name.
STRAYS_SWEPT = AuditTag("operations", "strays", "swept", Purpose.SECURITY)
# Art. 5(2): `audit verify` found the chain sound and anchored; its result is itself accounted.
AUDIT_VERIFIED = AuditTag("audit", "chain", "verified", Purpose.SECURITY)

#: Operations whose commit takes a signed checkpoint of the audit chain at once.
ANCHORED = (SCHEMA_UPGRADED, MASTER_KEY_ROTATED, BACKUP_CREATED, BACKUP_RESTORED, AUDIT_VERIFIED)
# Policy 5.1, Art. 32(1)(d): a security self-check ran; the entry carries the run's id and its
# counts per status, never what a check named.
SELFCHECK_RAN = AuditTag("operations", "selfcheck", "ran", Purpose.SECURITY)
