"""The audit tags of retention: sweeps (counts only), legal holds, inactive accounts."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

#: One batch of a rule swept: `object` is `<rule>:removed=<n>:held=<n>`, no subject.
BATCH_SWEPT = AuditTag("retention", "rule", "swept", Purpose.SECURITY)
HOLD_SET = AuditTag("retention", "hold", "set", Purpose.SECURITY)
HOLD_RELEASED = AuditTag("retention", "hold", "released", Purpose.SECURITY)
#: The officer listed the holds in force (`object`: how many; ids and case numbers only).
HOLDS_VIEWED = AuditTag("retention", "holds", "viewed", Purpose.SECURITY)
#: An account unused for the warning rule's duration was told it will be erased.
ACCOUNT_WARNED = AuditTag("retention", "account", "warned", Purpose.SERVICE)
#: Its owner pressed "keep my account".
ACCOUNT_KEPT = AuditTag("retention", "account", "kept", Purpose.SERVICE)
#: Its erasure was filed as a request (rights/erasure.py carries it out and audits it).
ERASURE_FILED = AuditTag("retention", "account", "erasure_filed", Purpose.SERVICE)
