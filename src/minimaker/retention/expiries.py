"""The retention mechanics of tables no feature owns: the job queue (an adapter, which may
import no feature, so its rule is declared here)."""

from __future__ import annotations

from minimaker.adapters import job_queue as queue
from minimaker.adapters.job_queue import Job
from minimaker.kernel.retention import Expiry
from minimaker.retention.declare import table_expiry


def expiries() -> tuple[Expiry, ...]:
    """Finished job rows (done, failed, cancelled), 30 days after they finished."""
    return (
        table_expiry(
            rule="finished_jobs",
            category="account",
            what="finished jobs",
            table=Job,
            key=Job.id,
            anchor=Job.finished_at,
            subject=Job.subject_id,
            where=(Job.status.in_([queue.DONE, queue.FAILED, queue.CANCELLED]),),
        ),
    )
