"""The audit tags of detection: alerts by id and rule only, never what a rule counted.

Purpose: security (Art. 5(2), 32(1)(d), 33: detecting breaches and accounting for them).
"""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

#: A rule opened an alert (`alert:<id>:<rule>`), by the system.
ALERT_OPENED = AuditTag("detection", "alert", "opened", Purpose.SECURITY)
#: The officer listed the alerts, or opened one.
ALERTS_VIEWED = AuditTag("detection", "alerts", "viewed", Purpose.SECURITY)
ALERT_VIEWED = AuditTag("detection", "alert", "viewed", Purpose.SECURITY)
#: The officer acknowledged an alert with a reason code (`alert:<id>:reason:<code>`).
ALERT_ACKNOWLEDGED = AuditTag("detection", "alert", "acknowledged", Purpose.SECURITY)
#: An incident was opened from the alert (`alert:<id>:incident:<id>`).
ALERT_ESCALATED = AuditTag("detection", "alert", "escalated", Purpose.SECURITY)
