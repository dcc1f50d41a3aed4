"""The audit tags of the incident register: ids only (`incident:<id>`), never what staff typed.

Purpose: security (Art. 5(2), 24, 32, 33(5): securing processing and demonstrating it).
"""

from __future__ import annotations

from minimaker.breach.rules import StepKind
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

#: A step recorded on an incident, by kind (`breach:incident:<kind>`); `opened` opens it.
STEP: dict[StepKind, AuditTag] = {
    kind: AuditTag("breach", "incident", kind.value, Purpose.SECURITY) for kind in StepKind
}
#: One incident shown with its description and steps (the sealed texts opened for staff).
INCIDENT_VIEWED = AuditTag("breach", "incident", "viewed", Purpose.SECURITY)
#: The register listed (ids, dates and statuses).
REGISTER_VIEWED = AuditTag("breach", "register", "viewed", Purpose.SECURITY)
#: The Art. 33(3) report built and shown (its sealed texts opened for the officer).
REPORT_VIEWED = AuditTag("breach", "report", "viewed", Purpose.SECURITY)
