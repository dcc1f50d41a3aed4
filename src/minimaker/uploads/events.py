"""The audit tags of uploads: a photo stored, read, deleted."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

PHOTO_CREATED = AuditTag("upload", "photo", "created", Purpose.SERVICE)
PHOTO_DELETED = AuditTag("upload", "photo", "deleted", Purpose.SERVICE)
CONTENT_READ = AuditTag("upload", "content", "read", Purpose.SERVICE)
