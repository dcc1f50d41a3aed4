"""`audit verify`: the chain walked entry by entry, then held against every signed checkpoint.

The hash chain finds an edited, missing or reordered entry; the checkpoints (kept in the key
store and an append-only file, adapters/checkpoints.py) find what a writer of the data database
can do consistently: cut the tail and move the head, delete everything, restart the chain,
remove one subject's entries or rewrite every actor and rehash the rest. A restore done by
`minimaker backup restore` signs a restore checkpoint and is reported as such; a shorter chain
without one is a cut.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from minimaker.adapters import audit_chain
from minimaker.adapters.audit_chain import ChainWalk
from minimaker.adapters.checkpoints import Checkpoint, CheckpointForged, FileNotes, Kind, open_note
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.kernel.errors import AuditChainBroken, IntegrityError
from minimaker.operations import events

log = logging.getLogger("minimaker.audit")


@dataclass(frozen=True)
class Finding:
    """One sign of tampering: its kind and a message naming entries and checkpoints only."""

    kind: str  # broken | forged | missing | order | truncated | rewritten | reset
    message: str


@dataclass
class AuditVerdict:
    """What verify found. `findings` empty means the chain is sound and anchored."""

    entries: int = 0
    head_hash: str = ""
    checkpoints: list[Checkpoint] = field(default_factory=list)
    anchored: int = 0  # entries covered by the newest checkpoint that holds
    superseded: int = 0  # checkpoints of a history a recorded restore replaced
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth saying, not tampering
    checkpoint: Checkpoint | None = None  # the one this verify took, when it found no fault

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def unanchored(self) -> int:
        """Entries after the newest checkpoint: a rewrite of these is not yet detectable."""
        return max(self.entries - self.anchored, 0)

    @property
    def restores(self) -> list[Checkpoint]:
        return [cp for cp in self.checkpoints if cp.kind is Kind.RESTORE]

    def found(self, kind: str, message: str) -> None:
        self.findings.append(Finding(kind, message))


def verify_audit(
    c: Container, *, progress: Callable[[int], None] | None = None, batch: int = 50_000
) -> AuditVerdict:
    """Check the chain and every checkpoint; when all holds, audit it and sign a checkpoint."""
    verdict = AuditVerdict()
    verdict.checkpoints = _checkpoints(c, verdict)
    sizes = [cp.size for cp in verdict.checkpoints]
    walk = audit_chain.walk(c.engine, sizes, batch=batch, progress=progress)
    verdict.entries, verdict.head_hash = walk.entries, walk.last_hash
    _check_chain(walk, verdict)
    _check_anchors(walk, verdict)
    if verdict.ok:
        with c.uow() as uow:
            obj = f"entries:{verdict.entries}:checkpoints:{len(verdict.checkpoints)}"
            uow.audit(events.AUDIT_VERIFIED, actor=SYSTEM_CLI, object=obj)
            uow.commit()
        verdict.checkpoint = uow.checkpoint
    return verdict


def take_periodic_checkpoint(c: Container) -> int:
    """The workers' duty: sign the chain's head if it grew (1), else nothing (0)."""
    try:
        return 0 if c.checkpoint(Kind.PERIODIC) is None else 1
    except IntegrityError as exc:
        # Refused (the chain lost anchored entries) or a forged checkpoint: say what, loudly.
        log.error("audit checkpoint not taken: %s", exc.message)
        raise


def _checkpoints(c: Container, verdict: AuditVerdict) -> list[Checkpoint]:
    """Every checkpoint whose signature holds, from both stores, each checked against the
    other; what does not hold becomes a finding."""
    key = c.checkpoints.key()
    stored = _opened(key, c.checkpoints.stored(), "the key store", verdict)
    filed_notes = c.checkpoints.filed()
    numbered = list(enumerate(filed_notes.notes, start=1))
    filed = _opened(key, numbered, "the checkpoint file", verdict)
    _cross_check(stored, filed, filed_notes, verdict)
    merged = sorted({**filed, **stored}.values(), key=lambda cp: cp.n)
    _check_order(merged, verdict)
    return merged


def _opened(
    key: bytes, notes: list[tuple[int, str]], where: str, verdict: AuditVerdict
) -> dict[int, Checkpoint]:
    opened: dict[int, Checkpoint] = {}
    for position, note in notes:
        try:
            cp = open_note(key, note)
        except CheckpointForged as exc:
            verdict.found("forged", f"checkpoint {position} in {where}: {exc.reason}")
            continue
        if cp.n in opened:
            verdict.found("forged", f"checkpoint {cp.n} appears twice in {where}")
        opened[cp.n] = cp
    return opened


def _cross_check(
    stored: dict[int, Checkpoint],
    filed: dict[int, Checkpoint],
    notes: FileNotes,
    verdict: AuditVerdict,
) -> None:
    if notes.damaged:
        verdict.found("forged", "the checkpoint file ends in a partial note (cut or edited)")
    newest_stored = max(stored, default=0)
    for n in sorted(set(stored) | set(filed)):
        if n in stored and n in filed:
            if stored[n] != filed[n]:
                verdict.found("forged", f"checkpoint {n} differs between the key store and file")
        elif n in stored:
            verdict.found("missing", f"checkpoint {n} is missing from the checkpoint file")
        elif n == newest_stored + 1 and n == max(filed):
            # The file is written first: a crash before the key store's commit leaves this.
            verdict.notes.append(f"checkpoint {n} is in the file only (interrupted while taken?)")
        else:
            verdict.found("missing", f"checkpoint {n} is missing from the key store")


def _check_order(merged: list[Checkpoint], verdict: AuditVerdict) -> None:
    expected, size = 1, 0
    for cp in merged:
        if cp.n != expected:
            verdict.found("missing", f"checkpoints {expected} to {cp.n - 1} are missing")
        if cp.size < size and cp.kind is not Kind.RESTORE:
            verdict.found("order", f"checkpoint {cp.n} is smaller than the one before it")
        expected, size = cp.n + 1, cp.size


def _check_chain(walk: ChainWalk, verdict: AuditVerdict) -> None:
    if walk.broken is not None:
        verdict.found("broken", walk.broken.message)
        return
    try:
        audit_chain.check_head(walk)
    except AuditChainBroken as exc:
        verdict.found("broken", exc.message)


def _check_anchors(walk: ChainWalk, verdict: AuditVerdict) -> None:
    """Each checkpoint of the current history must match the chain at its size."""
    cps = verdict.checkpoints
    for i, cp in enumerate(cps):
        later_restores = [r.restored or 0 for r in cps[i + 1 :] if r.kind is Kind.RESTORE]
        if later_restores and cp.size > min(later_restores):
            verdict.superseded += 1  # a recorded restore replaced the history it vouched for
            continue
        if cp.size == 0:
            continue
        problem = _mismatch(walk, cp)
        if problem is None:
            verdict.anchored = max(verdict.anchored, cp.size)
        elif problem:
            verdict.found(*problem)


def _mismatch(walk: ChainWalk, cp: Checkpoint) -> tuple[str, str] | tuple[()] | None:
    """None if the chain holds `cp`; () if it cannot tell (the chain broke before `cp`)."""
    if cp.size in walk.hash_at:
        if walk.hash_at[cp.size] == cp.head:
            return None
        if walk.first_ts is not None and walk.first_ts > cp.time:
            return "reset", f"the chain was restarted after checkpoint {cp.n} ({cp.size} entries)"
        return "rewritten", f"entry {cp.size} is not the one checkpoint {cp.n} signed"
    if walk.broken is not None:
        return ()
    if walk.first_ts is not None and walk.first_ts > cp.time:
        return "reset", f"the chain was restarted after checkpoint {cp.n} ({cp.size} entries)"
    return "truncated", (
        f"the chain has {walk.entries} entries; checkpoint {cp.n} signed {cp.size} "
        "and no restore was recorded"
    )
