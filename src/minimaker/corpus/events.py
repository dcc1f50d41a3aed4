"""The audit tags of the corpus: counts only, never a subject, a blob or an item id."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

#: A photo or model offered for the corpus could not be decoded: nothing was copied.
OFFER_UNDECODABLE = AuditTag("corpus", "offer", "undecodable", Purpose.TRAINING)
#: A shuffled batch of staged copies entered the corpus (the object is the count).
BATCH_ADMITTED = AuditTag("corpus", "batch", "admitted", Purpose.TRAINING)
