"""The severity of a personal data breach and the proposal whether to notify. Pure: no I/O.

Method: ENISA, "Recommendations for a methodology of the assessment of severity of personal
data breaches", Working Document v1.0, December 2013
(https://www.enisa.europa.eu/publications/dbn-severity), written with the data protection
authorities of Greece and Germany:

    SE = DPC x EI + CB

- DPC, the data processing context (1-4): each category of the policy file has an ENISA base
  class (simple 1, behavioural 2, financial 3, sensitive 4); the officer may adjust it within
  the range ENISA gives for that class (volume, the controller's nature, vulnerable people
  raise it; data already public, or revealing little, lower it); the result is held to 1-4.
  With several categories the highest score counts (ENISA: score each data set, keep the worst).
- EI, the ease of identification: negligible 0.25, limited 0.5, significant 0.75, maximum 1.
- CB, the circumstances: loss of confidentiality (known recipients +0.25, unknown +0.5),
  of integrity (altered beyond recovery +0.25), of availability (temporary +0.25, permanent
  +0.5), malicious intent +0.5.
- Bands: SE < 2 low, 2 <= SE < 3 medium, 3 <= SE < 4 high, SE >= 4 very high.

The proposal follows the GDPR: the authority is told unless the breach is unlikely to result
in a risk (Art. 33(1)): "no" only for a low severity; the subjects are told of a high risk
(Art. 34(1)): high and very high, unless the data was unintelligible to whoever had it, being
encrypted under keys the breach did not reach (Art. 34(3)(a)). The officer confirms or
overrides it with a reason (service.decide); the numbers never hold a subject id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from minimaker.breach.exposure import CategoryCount, Scope
from minimaker.breach.rules import Exception34

METHOD = "ENISA, Recommendations for a methodology of the assessment of severity of personal data breaches, v1.0 (2013)"  # noqa: E501 - one citation, kept whole
EXCEPTION_34_3_A = Exception34.UNINTELLIGIBLE.value


class DataClass(StrEnum):
    """ENISA's four classes of data, with their base DPC score."""

    SIMPLE = "simple"
    BEHAVIOURAL = "behavioural"
    FINANCIAL = "financial"
    SENSITIVE = "sensitive"

    @property
    def base(self) -> int:
        return _BASE[self]

    @property
    def adjustments(self) -> range:
        """The adjustments ENISA's DPC table allows for the class (its A2 factors)."""
        return _ADJUST[self]


_BASE = {
    DataClass.SIMPLE: 1,
    DataClass.BEHAVIOURAL: 2,
    DataClass.FINANCIAL: 3,
    DataClass.SENSITIVE: 4,
}
# Simple data +1..+3 (profiling, social or financial status, assumptions about health or
# beliefs, people whose safety it touches); behavioural -1 (no real insight, or public)..+1
# (a profile of everyday life); financial -2..+1; sensitive -3..0.
_ADJUST = {
    DataClass.SIMPLE: range(0, 4),
    DataClass.BEHAVIOURAL: range(-1, 2),
    DataClass.FINANCIAL: range(-2, 2),
    DataClass.SENSITIVE: range(-3, 1),
}

#: Each category of the shipped policy file, in ENISA's classes. A category an operator's
#: policy adds and this table does not know is scored as sensitive until classified here.
CATEGORY_CLASS: Mapping[str, DataClass] = {
    "account": DataClass.SIMPLE,  # name, email, username
    "credentials": DataClass.SIMPLE,  # argon2id hashes; sessions expire (the adjustment raises)
    # Photos show faces and home interiors and may carry GPS: everyday life and places.
    "uploaded_image": DataClass.BEHAVIOURAL,
    "generated_model": DataClass.BEHAVIOURAL,  # reliefs of those photos
    "usage_event": DataClass.SIMPLE,  # that a model was generated, on which day
    "rights_archive": DataClass.BEHAVIOURAL,  # a copy of all the above, photos included
    "rights_request": DataClass.SIMPLE,
    "message": DataClass.SIMPLE,
    "security_log": DataClass.SIMPLE,  # pseudonymous ids and keyed hashes
}


class Identification(StrEnum):
    """ENISA's ease of identification, from the data alone."""

    NEGLIGIBLE = "negligible"
    LIMITED = "limited"
    SIGNIFICANT = "significant"
    MAXIMUM = "maximum"

    @property
    def score(self) -> float:
        return _EI[self]


_EI = {
    Identification.NEGLIGIBLE: 0.25,
    Identification.LIMITED: 0.5,
    Identification.SIGNIFICANT: 0.75,
    Identification.MAXIMUM: 1.0,
}


class Confidentiality(StrEnum):
    NONE = "none"  # exposed, with no evidence of unlawful processing
    KNOWN_RECIPIENTS = "known_recipients"
    UNKNOWN_RECIPIENTS = "unknown_recipients"


class Integrity(StrEnum):
    NONE = "none"
    RECOVERABLE = "recoverable"  # altered, with a way to restore it: 0 in ENISA's table
    UNRECOVERABLE = "unrecoverable"


class Availability(StrEnum):
    NONE = "none"  # recoverable without difficulty
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


_CB: Mapping[StrEnum, float] = {
    Confidentiality.NONE: 0.0,
    Confidentiality.KNOWN_RECIPIENTS: 0.25,
    Confidentiality.UNKNOWN_RECIPIENTS: 0.5,
    Integrity.NONE: 0.0,
    Integrity.RECOVERABLE: 0.0,
    Integrity.UNRECOVERABLE: 0.25,
    Availability.NONE: 0.0,
    Availability.TEMPORARY: 0.25,
    Availability.PERMANENT: 0.5,
}
MALICIOUS = 0.5


class Level(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


#: The levels of a high risk to people's rights and freedoms (Art. 34(1)).
HIGH_RISK = frozenset({Level.HIGH, Level.VERY_HIGH})


@dataclass(frozen=True)
class Circumstances:
    """What the officer enters: ease of identification, losses, intent, DPC adjustments."""

    identification: Identification
    confidentiality: Confidentiality = Confidentiality.NONE
    integrity: Integrity = Integrity.NONE
    availability: Availability = Availability.NONE
    malicious: bool = False
    #: Category -> the ENISA adjustment of its DPC (within its class's range).
    adjustments: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Numbers:
    """What the assessment knows of the scope: counts and a flag, never a subject id."""

    categories: tuple[CategoryCount, ...]
    subjects: int
    encrypted_under_uncompromised_keys: bool

    @classmethod
    def of(cls, scope: Scope) -> Numbers:
        return cls(scope.categories, scope.subjects, scope.encrypted_under_uncompromised_keys)

    @property
    def records(self) -> int:
        return sum(c.records for c in self.categories)


@dataclass(frozen=True)
class CategoryScore:
    category: str
    data_class: DataClass
    adjustment: int
    dpc: int


@dataclass(frozen=True)
class Proposal:
    """The severity, each term of it, and what to do, with the reasons in plain words."""

    method: str
    dpc: int
    ei: float
    cb: float
    score: float
    level: Level
    categories: tuple[CategoryScore, ...]
    notify_authority: bool
    notify_subjects: bool
    exception: str | None  # "Art. 34(3)(a)" when it spares the subjects' notice
    reasons: tuple[str, ...]


class AssessmentInvalid(ValueError):
    """An input the method cannot score: (field, reason), a safe message."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


def class_of(category: str) -> DataClass:
    """ENISA's class of a policy category; an unclassified one counts as sensitive."""
    return CATEGORY_CLASS.get(category, DataClass.SENSITIVE)


def score_category(category: str, adjustment: int = 0) -> CategoryScore:
    """One category's DPC: its class's base plus an allowed adjustment, held to 1-4."""
    data_class = class_of(category)
    if adjustment not in data_class.adjustments:
        low, high = data_class.adjustments[0], data_class.adjustments[-1]
        raise AssessmentInvalid(
            "adjustments", f"{category} ({data_class.value}) adjusts by {low} to {high}"
        )
    dpc = min(4, max(1, data_class.base + adjustment))
    return CategoryScore(category, data_class, adjustment, dpc)


def level_of(score: float) -> Level:
    if score < 2:
        return Level.LOW
    if score < 3:
        return Level.MEDIUM
    if score < 4:
        return Level.HIGH
    return Level.VERY_HIGH


def circumstances_score(c: Circumstances) -> float:
    """CB: the losses of security and the intent, added."""
    return (
        _CB[c.confidentiality]
        + _CB[c.integrity]
        + _CB[c.availability]
        + (MALICIOUS if c.malicious else 0.0)
    )


def assess(numbers: Numbers, circumstances: Circumstances) -> Proposal:
    """SE = DPC x EI + CB, its band, and the proposal whether to notify."""
    touched = [c.category for c in numbers.categories if c.records > 0 or c.subjects > 0]
    if not touched:
        raise AssessmentInvalid("categories", "name at least one category with a count")
    stray = set(circumstances.adjustments) - set(touched)
    if stray:
        raise AssessmentInvalid("adjustments", "adjust only the categories in the scope")
    scored = tuple(score_category(name, circumstances.adjustments.get(name, 0)) for name in touched)
    dpc = max(s.dpc for s in scored)
    ei = circumstances.identification.score
    cb = circumstances_score(circumstances)
    score = round(dpc * ei + cb, 2)
    level = level_of(score)
    authority, subjects, exception, why = _propose(level, numbers, circumstances)
    reasons = (_severity_reason(dpc, ei, cb, score, level, scored), *why)
    return Proposal(
        METHOD, dpc, ei, cb, score, level, scored, authority, subjects, exception, reasons
    )


def _severity_reason(
    dpc: int, ei: float, cb: float, score: float, level: Level, scored: Iterable[CategoryScore]
) -> str:
    worst = max(scored, key=lambda s: s.dpc)
    return (
        f"Severity {score:g} ({level.value.replace('_', ' ')}): data processing context {dpc} "
        f"({worst.category}, {worst.data_class.value} data) x ease of identification {ei:g} "
        f"+ circumstances {cb:g}."
    )


def _propose(
    level: Level, numbers: Numbers, c: Circumstances
) -> tuple[bool, bool, str | None, list[str]]:
    reasons: list[str] = []
    authority = level is not Level.LOW
    if authority:
        reasons.append(
            "Tell the authority within 72 hours: a breach above low severity is likely to "
            "result in a risk to people's rights and freedoms (Art. 33(1))."
        )
    else:
        reasons.append(
            "The authority need not be told: at low severity the breach is unlikely to "
            "result in a risk (Art. 33(1)); it stays documented here (Art. 33(5))."
        )
    high = level in HIGH_RISK
    if not high:
        reasons.append("The people affected need not be told: the risk is not high (Art. 34(1)).")
        return authority, False, None, reasons
    unreadable = numbers.encrypted_under_uncompromised_keys
    intact = c.integrity is Integrity.NONE and c.availability is Availability.NONE
    if unreadable and intact:
        reasons.append(
            "The people affected need not be told although the risk is high: everything "
            "exposed was encrypted under keys the breach did not reach, so it is unintelligible "
            f"to whoever has it ({EXCEPTION_34_3_A})."
        )
        return authority, False, EXCEPTION_34_3_A, reasons
    if unreadable:
        reasons.append(
            f"The data was encrypted under keys not compromised, but {EXCEPTION_34_3_A} does "
            "not cover a loss of integrity or availability: encryption keeps data unreadable, "
            "not intact or at hand."
        )
    reasons.append(
        f"Tell the {numbers.subjects} people affected without undue delay: the risk is high "
        "(Art. 34(1); policy 8.1)."
    )
    return authority, True, None, reasons
