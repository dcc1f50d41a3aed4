"""The audit tags of usage aggregates: a day and counts only, never an event or a pseudonym."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

#: A day's aggregates left for the provider: `day:<d>:rows:<n>:suppressed:<n>:epsilon:<e>`.
DAY_PUBLISHED = AuditTag("analytics", "day", "published", Purpose.ANALYTICS)
#: A POST of a day's aggregates failed; its epsilon counts, since the numbers may have arrived.
DAY_FAILED = AuditTag("analytics", "day", "failed", Purpose.ANALYTICS)
#: A further publication of a day was refused by its privacy budget: nothing was sent.
BUDGET_REFUSED = AuditTag("analytics", "budget", "refused", Purpose.ANALYTICS)
