"""The record of processing (Art. 30(1)), generated from the policy in force and the registry.

Nothing here is written by hand: the purposes, their bases, categories, retention, processors,
regions and security measures are the policy file's (`c.policy`); the tables holding each
category are the personal-data registry's (`c.personal_data`); the stores' regions are the
settings' (operations/residency.py). An operator who edits the policy changes the record.
"""

from __future__ import annotations

from minimaker.kernel.container import Container
from minimaker.operations import residency
from minimaker.policy import Policy
from minimaker.policy.residency import in_eu, safeguard_text
from minimaker.records.rules import (
    Controller,
    DataCategory,
    DataSubjects,
    Entry,
    LawfulBasis,
    Recipient,
    Record,
    StorePlacement,
    TimeLimit,
)
from minimaker.staff import service as staff
from minimaker.staff.rules import Action
from minimaker.staff.service import StaffIdentity

# Art. 30(1)(a) asks for the DPO and the representative "where applicable": say which is not.
_NO_DPO = "none designated"
_NO_REPRESENTATIVE = "none (Art. 27: only a controller established outside the Union names one)"
_NO_ADDRESS = "not stated"


def record_of_processing(c: Container, *, by: StaffIdentity | None) -> Record:
    """The record now; staff need VIEW_RECORD_OF_PROCESSING, the operator (`by=None`) not."""
    if by is not None:
        staff.permit(c, by, Action.VIEW_RECORD_OF_PROCESSING, object="records:ropa")
    return build_record(c)


def build_record(c: Container) -> Record:
    """The record from the container's policy, registry and stores."""
    policy = c.policy
    stores = [
        StorePlacement(
            store=s.name,
            setting=s.setting,
            region=s.region,
            placement=residency.placement(s, policy),
        )
        for s in residency.stores(c.settings)
    ]
    outside = [f"{s.store}: {s.placement}" for s in stores if not _in_eu(policy, s.region)]
    return Record(
        policy_version=policy.version,
        policy_effective=policy.effective.isoformat(),
        generated_at=c.clock.now(),
        controller=controller(policy),
        stores=stores,
        entries=[_entry(c, name, outside) for name in policy.purposes],
    )


def _in_eu(policy: Policy, region: str) -> bool:
    found = policy.regions.get(region)
    return found is not None and in_eu(found)


def controller(policy: Policy) -> Controller:
    """Art. 30(1)(a): the controller as the policy names it, nothing left empty."""
    ctl = policy.controller
    return Controller(
        name=ctl.name,
        contact=ctl.contact,
        address=ctl.address or _NO_ADDRESS,
        dpo=ctl.dpo or _NO_DPO,
        representative=ctl.representative or _NO_REPRESENTATIVE,
    )


def _entry(c: Container, name: str, stores_outside: list[str]) -> Entry:
    policy = c.policy
    purpose = policy.purposes[name]
    categories = purpose.categories
    subjects = sorted({s for cat in categories for s in policy.categories[cat].subjects})
    recipients = recipients_of(policy, name)
    return Entry(
        purpose=name,
        description=purpose.description,
        controller=controller(policy),
        lawful_basis=LawfulBasis(
            article=purpose.lawful_basis.citation,
            label=purpose.lawful_basis.label,
            detail=purpose.basis_detail,
            objectable=purpose.objectable,
            consent=purpose.consent,
        ),
        data_subjects=[
            DataSubjects(name=s, description=policy.data_subjects[s].description) for s in subjects
        ],
        personal_data=[_category(c, cat) for cat in categories],
        recipients=recipients,
        transfers=[*_processor_transfers(policy, recipients), *stores_outside],
        erasure_time_limits=[
            TimeLimit(category=cat, retention=policy.categories[cat].retention)
            for cat in categories
        ],
        security_measures=list(policy.security_measures),
    )


def _category(c: Container, name: str) -> DataCategory:
    category = c.policy.categories[name]
    tables = sorted(d.name for d in c.personal_data.personal if d.category == name)
    return DataCategory(
        name=name,
        description=category.description,
        data_subjects=list(category.subjects),
        tables=tables,
    )


def recipients_of(policy: Policy, purpose: str) -> list[Recipient]:
    """Art. 30(1)(d): the processors whose purposes include `purpose`, under their DPA."""
    found = []
    for name, proc in policy.processors.items():
        if purpose not in proc.purposes:
            continue
        dpa = proc.dpa
        found.append(
            Recipient(
                name=name,
                description=proc.description,
                contact=proc.contact,
                dpa=f"{dpa.reference}, signed {dpa.signed}" if dpa else "none (refused)",
                region=_placement(policy, proc.region),
                treatment=proc.treatment.value,
                categories=list(proc.categories),
            )
        )
    return found


def _placement(policy: Policy, region: str) -> str:
    found = policy.regions.get(region)
    return safeguard_text(region, found) if found else f"{region}: not declared (refused)"


def _processor_transfers(policy: Policy, recipients: list[Recipient]) -> list[str]:
    """Art. 30(1)(e): each recipient outside the EU/EEA, with its recorded safeguard."""
    return [
        f"{r.name} ({r.region})"
        for r in recipients
        if not _in_eu(policy, policy.processors[r.name].region)
    ]
