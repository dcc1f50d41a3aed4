"""The shape of the policy file: every field the code obeys, validated by pydantic.

Field-level rules live here; the rules that relate one part of the file to another (a purpose
naming a category that does not exist, a processor without a DPA) are in `consistency.py`, so
that each refusal can name the line of the file that caused it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]


class _Strict(BaseModel):
    # A misspelt key is a policy the code would silently not obey: refuse it.
    model_config = ConfigDict(extra="forbid", frozen=True)


class LawfulBasis(StrEnum):
    """Art. 6(1) GDPR: the six lawful bases, by their letter."""

    CONSENT = "a"
    CONTRACT = "b"
    LEGAL_OBLIGATION = "c"
    VITAL_INTERESTS = "d"
    PUBLIC_TASK = "e"
    LEGITIMATE_INTERESTS = "f"

    @property
    def citation(self) -> str:
        """How the basis is cited: "Art. 6(1)(f)"."""
        return f"Art. 6(1)({self.value})"

    @property
    def label(self) -> str:
        """The basis in words: "legitimate interests"."""
        return self.name.lower().replace("_", " ")


class Controller(_Strict):
    """Art. 30(1)(a), 13(1)(a)-(b): who answers for the data, and how to reach them."""

    name: Text
    contact: Text
    address: Text | None = None
    dpo: Text | None = Field(None, description="The data protection officer's contact.")
    representative: Text | None = Field(None, description="Art. 27, if outside the EU.")


class DataSubjects(_Strict):
    description: Text


Duration = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,4})(h|d|mo)$")]


class RetentionEvent(StrEnum):
    """What ends a rule without a duration (retention/rules.py `Event`)."""

    ACCOUNT_ERASED = "account_erased"
    HOLD_RELEASED = "hold_released"


class Rule(_Strict):
    """How long one kind of data of a category is kept: a duration or an event, not both."""

    after: Duration | None = Field(None, description="24h, 30d, 24mo; 0d: at once.")
    until: RetentionEvent | None = None
    description: Text | None = None


class Category(_Strict):
    """A category of personal data the code stores (the personal-data registry names it)."""

    description: Text
    retention: Text = Field(description="The rules in words, for people.")
    # Art. 5(1)(e), policy 3.5: every category says how long, as rules the code sweeps by.
    rules: dict[Name, Rule] = Field(min_length=1)
    subjects: list[Name] = Field(min_length=1, description="Whose data: data_subjects names.")


class Purpose(_Strict):
    """A purpose of processing with its lawful basis and the categories it may touch."""

    description: Text
    lawful_basis: LawfulBasis
    basis_detail: Text = Field(description="The contract, obligation or interest relied on.")
    categories: list[Name] = Field(min_length=1)
    objectable: bool = Field(False, description="The subject may object (Art. 21).")
    consent: bool = Field(False, description="Runs only for subjects who opted in (Art. 7).")
    consent_default: bool = Field(False, description="Refused when true: no pre-ticked boxes.")


class Safeguard(StrEnum):
    """Chapter V GDPR: what makes a transfer outside the EU/EEA lawful."""

    ADEQUACY = "adequacy"  # Art. 45
    SCC = "scc"  # Art. 46(2)(c) standard contractual clauses
    BCR = "bcr"  # Art. 47 binding corporate rules


class Transfer(_Strict):
    safeguard: Safeguard
    reference: Text = Field(description="The decision, or the signed clauses' reference.")
    since: date


class Region(_Strict):
    """A place data can be stored or processed: its country decides whether it is in the EU."""

    description: Text
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2, or EU for anywhere in the Union."
    )
    transfer: Transfer | None = None


class Treatment(StrEnum):
    """What leaves for a processor: the personal data itself, pseudonymised, or aggregates."""

    PERSONAL = "personal"
    PSEUDONYMISED = "pseudonymised"
    ANONYMISED = "anonymised"


class Dpa(_Strict):
    """Art. 28(3): the data processing agreement that governs the processor."""

    reference: Text
    signed: date
    expires: date | None = None


class Processor(_Strict):
    """A third party that receives data on our behalf (Art. 28), under a DPA (policy 7.1)."""

    description: Text
    contact: Text = Field(description="Where Art. 19 notices go.")
    dpa: Dpa | None = None
    purposes: list[Name] = Field(min_length=1)
    categories: list[Name] = Field(min_length=1)
    region: Name
    treatment: Treatment
    # Art. 19: a recipient is told of a rectification, erasure or restriction "unless this
    # proves impossible or involves disproportionate effort"; one that keeps no copy (a relay
    # that deletes each message once delivered) has nothing to apply it to.
    keeps_copies: bool = Field(True, description="Holds copies, so is told under Art. 19.")


class Art15(_Strict):
    """The sentences of the access archive that the policy, not the code, decides (Art. 15)."""

    source: Text
    automated_decision_making: Text
    recipients_note: Text
    no_recipients: Text
    transfers_none: Text = Field(description="{region} is filled in.")
    transfers_some: Text = Field(description="{region} and {outside} are filled in.")


class Policy(_Strict):
    """The whole policy file, as the code obeys it."""

    version: Text
    effective: date
    significant: bool = Field(False, description="Users must be told and acknowledge it.")
    changes: Text = Field(description="What changed since the previous version.")
    text_file: Text = Field(description="The readable policy, beside this file.")
    controller: Controller
    security_measures: list[Text] = Field(min_length=1, description="Art. 30(1)(g).")
    data_subjects: dict[Name, DataSubjects] = Field(min_length=1)
    categories: dict[Name, Category] = Field(min_length=1)
    purposes: dict[Name, Purpose] = Field(min_length=1)
    regions: dict[Name, Region] = Field(min_length=1)
    processors: dict[Name, Processor] = Field(default_factory=dict)
    art15: Art15
