"""The audit tags of generation: a model requested, made or failed, read, previewed, deleted."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

GENERATION_REQUESTED = AuditTag("model", "generation", "requested", Purpose.SERVICE)
GENERATION_COMPLETED = AuditTag("model", "generation", "completed", Purpose.SERVICE)
GENERATION_FAILED = AuditTag("model", "generation", "failed", Purpose.SERVICE)
CONTENT_READ = AuditTag("model", "content", "read", Purpose.SERVICE)
MODEL_DELETED = AuditTag("model", "model", "deleted", Purpose.SERVICE)
#: A model's stored preview read; one drawn of a model that has none stored (made before
#: previews were stored), and of a photo before generating (processing for generation).
PREVIEW_READ = AuditTag("model", "preview", "read", Purpose.SERVICE)
PREVIEW_DRAWN = AuditTag("model", "preview", "drawn", Purpose.SERVICE)
PHOTO_PREVIEW_DRAWN = AuditTag("model", "photo_preview", "drawn", Purpose.GENERATION)
