"""400 days on, with every duty run, nothing of an erased or expired kind remains: every
table of the registry, the blob directory and the outbox folder, scanned."""

from __future__ import annotations

from sqlalchemy import func, select

from minimaker.corpus.tables import StagedCopy
from minimaker.entrypoints.worker import Worker
from minimaker.generation import service as generation
from minimaker.generation.tables import ModelFile, ModelPreview
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.mail import folder
from minimaker.rights import intake
from minimaker.uploads import service as uploads
from tests.conftest import photo_bytes
from tests.retention.world import signup

#: What may be left of a subject at 400 days: a live account's own data within its rules
#: (models are kept 24 months) and, of an erased one, the pseudonymous record of its requests.
_MAY_REMAIN = {
    "users",
    "models",
    "model_files",
    "model_previews",
    "objections",
    "consents",
    "policy_acknowledgements",
    "rights_requests",
    "request_events",
    "audit_log",  # pseudonymous, append-only (Art. 5(2)); declared NotPersonal
    "policy_versions",  # the published texts, naming no one
    "corpus_staged",  # anonymised copies (policy 9.2), nobody's data; declared NotPersonal
    "duty_leases",  # the periodic duties' schedule across workers: names and times
    "selfcheck_runs",  # the record of the daily security self-checks (policy 5.1): no one's
    "detection_state",  # one row: the audit seq the detection rules read up to
    "detection_alerts",  # what detection found (rule, window, counts): kept as its record
}


def test_nothing_of_an_erased_or_expired_kind_remains_400_days_on(
    container: Container, clock: ManualClock, worker: Worker
) -> None:
    c = container
    ada, bob = signup(c, "ada"), signup(c, "bob")
    for subject in (ada, bob):
        up = uploads.create_upload(c, user_id=subject, data=photo_bytes())
        generation.request_model(c, user_id=subject, upload_id=up.id)
        intake.submit(c, user_id=subject, type="access")
    worker.run_until_idle()
    intake.submit(c, user_id=bob, type="erasure")
    worker.run_until_idle()
    for _ in range(40):  # 400 days, every duty run every 10 days
        clock.advance(days=10)
        worker.run_until_idle()
        worker.run_duties()
    left = {}
    with c.sessions() as s:
        for d in c.personal_data:  # every table of the registry, personal or not
            n = s.scalar(select(func.count()).select_from(d.table))
            if n:
                left[d.table.__tablename__] = n
        model_blobs = {
            *s.scalars(select(ModelFile.blob_id).where(ModelFile.owner_id == ada)),
            *s.scalars(select(ModelPreview.blob_id).where(ModelPreview.owner_id == ada)),
        }
        corpus_blobs = set(s.scalars(select(StagedCopy.blob_id)))
    assert set(left) <= _MAY_REMAIN, left
    # Ada's photo left by its rule and was offered to the corpus (bob's erasure offers nothing).
    assert len(corpus_blobs) == 1
    assert len(model_blobs) == 4  # ada's model: its three files and its shaded preview
    assert set(c.blobs.store.iter_ids()) == model_blobs | corpus_blobs  # nothing else
    assert folder.folder_mailer(c).waiting() == []
    assert not c.keys.has_subject_key(bob)
