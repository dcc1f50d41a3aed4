"""Which processing a subject's restriction (Art. 18) and objections (Art. 21) still allow."""

from __future__ import annotations

from enum import StrEnum

from minimaker.kernel.errors import ProcessingRefused


class Purpose(StrEnum):
    """The purposes of policy.yaml, as values: code names a purpose, never a free string.

    A test holds this enum and the policy file's `purposes` equal, so a purpose added to one
    and not the other fails the suite.
    """

    SERVICE = "service"
    GENERATION = "generation"
    SECURITY = "security"
    TRAINING = "training"
    MARKETING = "marketing"
    ANALYTICS = "analytics"


class Activity(StrEnum):
    """What is done with a subject's data, each under one purpose of the policy."""

    STORAGE = "storage"  # keeping what we hold: always allowed (Art. 18(2))
    SUBJECT_ACCESS = "subject_access"  # the subject seeing or downloading their own data
    RIGHTS = "rights"  # fulfilling the subject's own requests
    SECURITY = "security"  # sign-in, rate limits, audit
    GENERATION = "generation"
    SHARING = "sharing"
    ANALYTICS = "analytics"
    TRAINING = "training"
    MARKETING = "marketing"


#: The purpose (policy.yaml) each activity is done for.
PURPOSE_OF: dict[Activity, Purpose] = {
    Activity.STORAGE: Purpose.SERVICE,
    Activity.SUBJECT_ACCESS: Purpose.SERVICE,
    Activity.RIGHTS: Purpose.SERVICE,
    Activity.SECURITY: Purpose.SECURITY,
    Activity.GENERATION: Purpose.GENERATION,
    Activity.SHARING: Purpose.SERVICE,
    Activity.ANALYTICS: Purpose.ANALYTICS,
    Activity.TRAINING: Purpose.TRAINING,
    Activity.MARKETING: Purpose.MARKETING,
}

#: Activities a restriction leaves allowed: storage, and the subject's own access and rights.
ALLOWED_WHILE_RESTRICTED = frozenset(
    {Activity.STORAGE, Activity.SUBJECT_ACCESS, Activity.RIGHTS, Activity.SECURITY}
)

#: Purposes a subject may object to (Art. 21); marketing objection is absolute (Art. 21(3)).
OBJECTABLE = ("training", "marketing", "analytics")


def check(activity: Activity, *, restricted: bool, objections: frozenset[str]) -> Purpose:
    """The purpose `activity` runs under, or ProcessingRefused with the reason."""
    purpose = PURPOSE_OF[activity]
    if restricted and activity not in ALLOWED_WHILE_RESTRICTED:
        raise ProcessingRefused(
            activity.value, "processing of this account is restricted (Art. 18) until lifted"
        )
    if purpose in objections:
        raise ProcessingRefused(activity.value, f"the subject objected to {purpose} (Art. 21)")
    return purpose
