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
