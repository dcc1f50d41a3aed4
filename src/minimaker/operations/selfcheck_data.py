"""The self-check's checks of what the service holds: the audit chain, strays, deadlines,
retention, staff clearance and processors (policy 5.1; Art. 5(2), 12(3), 28, 32(1)(d)).

Each reads through the owning feature's service and returns one `Check` with counts only:
which request, blob, key or member is the business of the console that owns it, not of a
record kept for years.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from minimaker.kernel.container import Container
from minimaker.kernel.retention import Expiry
from minimaker.operations import audit_check, sweep
from minimaker.operations.selfcheck_checks import Check, Status
from minimaker.retention import service as retention
from minimaker.rights import deadlines
from minimaker.sharing import service as sharing
from minimaker.staff import service as staff
from minimaker.staff.rules import MATRIX, PERSONAL_DATA, Role, expired

#: A training or a DPA that ends within this many days is worth a warning now.
SOON_DAYS = 30
_BATCH = 500


def audit_chain(c: Container) -> Check:
    """Art. 5(2): the chain walked and held against every signed checkpoint (`audit verify`)."""
    verdict = audit_check.verify_audit(c)
    if not verdict.ok:
        kinds = sorted({f.kind for f in verdict.findings})
        first = verdict.findings[0].message
        return Check(
            "audit_chain",
            Status.FAIL,
            f"{len(verdict.findings)} finding(s) ({', '.join(kinds)}): {first}"[:500],
        )
    return Check(
        "audit_chain",
        Status.PASS,
        f"{verdict.entries} entries sound, {len(verdict.checkpoints)} checkpoints hold",
    )


def orphan_blobs(c: Container) -> Check:
    """Blobs older than the sweep's grace that no row names: kept for no purpose (3.5)."""
    count = sweep.count_orphans(c)
    if count:
        return Check(
            "orphan_blobs",
            Status.FAIL,
            f"{count} blob(s) older than {c.settings.sweep_grace_s} s that no row names "
            "(the sweep removes them; a stray blob may also be data put there from outside)",
        )
    return Check("orphan_blobs", Status.PASS, "every stored blob is named by a row")


def orphan_keys(c: Container) -> Check:
    """Data keys of subjects no row names: a key kept for nobody (a sign-up killed midway)."""
    count = count_orphan_keys(c)
    if count:
        return Check(
            "orphan_keys",
            Status.WARN,
            f"{count} subject data key(s) whose subject no row names (kept for no one; "
            "nothing of anyone's is readable under them)",
        )
    return Check("orphan_keys", Status.PASS, "every subject data key belongs to a subject")


def count_orphan_keys(c: Container) -> int:
    """How many subject data keys older than the sweep's grace no row names (detection too)."""
    cutoff = c.clock.now() - timedelta(seconds=c.settings.sweep_grace_s)
    return sum(len(batch) for batch in _unowned(c, c.keys.subjects_keyed_before(cutoff)))


def _unowned(c: Container, subjects: Iterable[str]) -> Iterator[list[str]]:
    """Batches of `subjects` that no owner column of a declared personal table names."""
    owners = [
        getattr(d.table, d.owner) for d in c.personal_data.personal if isinstance(d.owner, str)
    ]
    batch: list[str] = []
    for subject in subjects:
        batch.append(subject)
        if len(batch) == _BATCH:
            yield _unnamed(c, owners, batch)
            batch = []
    if batch:
        yield _unnamed(c, owners, batch)


def _unnamed(c: Container, owners: Sequence[Any], batch: list[str]) -> list[str]:
    named: set[str] = set()
    with c.uow(write=False) as uow:
        for column in owners:
            named.update(uow.session.scalars(select(column).where(column.in_(batch))))
    return [s for s in batch if s not in named]


def overdue_requests(c: Container) -> Check:
    """Art. 12(3): a request past its legal due date fails; one due soon warns."""
    overdue, soon = deadlines.overdue_and_due_soon(c)
    if overdue:
        return Check(
            "overdue_requests",
            Status.FAIL,
            f"{overdue} rights request(s) past their legal due date ({soon} more due within "
            f"{deadlines.DUE_SOON_DAYS} days)",
        )
    if soon:
        return Check(
            "overdue_requests",
            Status.WARN,
            f"{soon} rights request(s) due within {deadlines.DUE_SOON_DAYS} days",
        )
    return Check("overdue_requests", Status.PASS, "no open request is overdue or due soon")


def retention_backlog(c: Container, expiries: Sequence[Expiry]) -> Check:
    """Policy 3.5, 9.1: what is past its rule's cutoff now (a dry run: nothing is removed)."""
    report = retention.run(c, expiries, dry_run=True)
    limit = c.settings.selfcheck_retention_backlog
    rules = sum(1 for r in report.rules if r.removed)
    text = f"{report.removed} item(s) past their cutoff in {rules} rule(s), {report.held} held"
    if report.removed > limit:
        return Check(
            "retention_backlog",
            Status.WARN,
            f"{text}: more than MINIMAKER_SELFCHECK_RETENTION_BACKLOG ({limit}); the "
            "retention sweeps are falling behind",
        )
    return Check("retention_backlog", Status.PASS, text)


def staff_training(c: Container) -> Check:
    """Policy 11.2: members whose role reaches personal data are trained, and stay so."""
    now = c.clock.now()
    reaching = {role for role, actions in MATRIX.items() if actions & PERSONAL_DATA}
    active = [
        m
        for m in staff.list_staff(c, by=None)
        if m.disabled_at is None
        and not expired(m.access_expires_at, now)
        and Role(m.role) in reaching
    ]
    lapsed = sum(1 for m in active if m.training_expires_at is None or m.training_expires_at <= now)
    soon = sum(
        1
        for m in active
        if m.training_expires_at is not None
        and now < m.training_expires_at <= now + timedelta(days=SOON_DAYS)
    )
    if lapsed or soon:
        return Check(
            "staff_training",
            Status.WARN,
            f"{lapsed} member(s) with access to personal data have no current training "
            f"(refused personal data until renewed); {soon} expire within {SOON_DAYS} days",
        )
    return Check("staff_training", Status.PASS, f"{len(active)} member(s) with access, all trained")


def processor_dpas(c: Container) -> Check:
    """Art. 28(3): every processor of the policy is under a data processing agreement in force."""
    today = c.clock.now().date()
    lapsed, soon = [], []
    for name in sorted(c.policy.processors):
        entry = sharing.entry(c.policy, name)
        if entry is None:
            continue
        if entry.dpa_signed is None or entry.dpa_signed > today:
            lapsed.append(f"{name} (no DPA in force)")
        elif entry.dpa_expires is not None and entry.dpa_expires < today:
            lapsed.append(f"{name} (DPA expired {entry.dpa_expires.isoformat()})")
        elif entry.dpa_expires is not None and entry.dpa_expires <= today + timedelta(
            days=SOON_DAYS
        ):
            soon.append(f"{name} (DPA expires {entry.dpa_expires.isoformat()})")
    if lapsed:
        return Check("processor_dpas", Status.FAIL, "lapsed: " + ", ".join(lapsed + soon))
    if soon:
        return Check("processor_dpas", Status.WARN, "soon: " + ", ".join(soon))
    return Check(
        "processor_dpas", Status.PASS, f"{len(c.policy.processors)} processor(s), DPAs in force"
    )


def held_checks(expiries: Sequence[Expiry]) -> list[tuple[str, Callable[[Container], Check]]]:
    """Every check of what the service holds, by name, in a fixed order."""
    return [
        ("audit_chain", audit_chain),
        ("orphan_blobs", orphan_blobs),
        ("orphan_keys", orphan_keys),
        ("overdue_requests", overdue_requests),
        ("retention_backlog", lambda c: retention_backlog(c, expiries)),
        ("staff_training", staff_training),
        ("processor_dpas", processor_dpas),
    ]
