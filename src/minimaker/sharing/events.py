"""The audit tags of sharing: a disclosure recorded, aggregates published, a share refused."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

#: A subject's data went to a processor; the entry carries the share's own purpose.
DISCLOSURE_RECORDED = AuditTag("sharing", "disclosure", "recorded", Purpose.SERVICE)
#: Anonymised aggregates went to a processor: no subject, so no disclosure row (policy 7.3).
AGGREGATES_PUBLISHED = AuditTag("sharing", "aggregates", "published", Purpose.ANALYTICS)
#: Data was about to leave and the policy or the payload did not allow it.
SHARE_REFUSED = AuditTag("sharing", "share", "refused", Purpose.SECURITY)
