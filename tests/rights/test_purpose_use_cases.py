"""Each use case that processes a subject's data asks the purpose gate, shown through the real
service on SQLite and PostgreSQL: in a state that refuses it, the use case is refused, the
refusal stands in the audit, and nothing else is written (DESIGN invariant 3).

Generation is refused by a restriction (Art. 18). Nothing a subject does refuses the service
itself (the shipped policy lets it go on while restricted, and it is neither objectable nor
on consent), so a service use case is refused by the policy in force instead: an operator's
policy that does not declare the category for service, built on the same databases. Where a
test elsewhere already shows this for a use case, tests/test_purpose_calls.py names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from minimaker.accounts import authentication
from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.job_queue import Job
from minimaker.bootstrap import build
from minimaker.entrypoints.worker import Worker
from minimaker.generation import service as generation
from minimaker.generation.tables import Model3D, ModelFile, UsageEvent
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ProcessingRefused
from minimaker.mail.tables import OutboxMessage
from minimaker.policy.load import SHIPPED
from minimaker.publication import notify
from minimaker.publication import service as publication
from minimaker.publication.tables import PolicyAcknowledgement
from minimaker.rights import access, intake, rectification
from minimaker.rights.tables import Archive
from minimaker.settings import Settings
from minimaker.uploads import service as uploads
from minimaker.uploads.tables import Upload
from tests.conftest import photo_bytes

REFUSED = "privacy:processing:refused"
PASSWORD = "correct horse battery staple"


def _policy_without(folder: Path, category: str, *, version: str | None = None) -> Path:
    """The shipped policy with `category` taken out of service, and still coherent: a category
    no purpose holds any more is held for security, and so is a processor's share of it."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = yaml.safe_load(SHIPPED.read_text("utf-8"))
    purposes = doc["purposes"]
    purposes["service"]["categories"].remove(category)
    if not any(category in p["categories"] for p in purposes.values()):
        purposes["security"]["categories"].append(category)
    for processor in doc["processors"].values():
        held = {c for name in processor["purposes"] for c in purposes[name]["categories"]}
        if category in processor["categories"] and category not in held:
            processor["purposes"].append("security")
    if version is not None:  # a new significant release, so users are told of it
        doc.update(version=version, significant=True, changes="Service narrowed.")
    text = (SHIPPED.parent / doc["text_file"]).read_text("utf-8")
    (folder / doc["text_file"]).write_text(text, "utf-8")
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return path


Narrowing = Callable[..., Container]


@pytest.fixture
def narrowed(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[Narrowing]:
    """Build a container on the same databases whose policy leaves `category` out of service."""
    built: list[Container] = []

    def make(category: str, *, version: str | None = None) -> Container:
        path = _policy_without(tmp_path / f"policy-{len(built)}", category, version=version)
        c = build(settings.model_copy(update={"policy_file": path}), clock=clock)
        assert category not in c.policy.purposes["service"].categories
        built.append(c)
        return c

    yield make
    for c in built:
        c.close()


def _subject(c: Container) -> str:
    return accounts.signup(
        c, name="Ada Lovelace", email="ada@example.org", username="ada", password=PASSWORD
    ).id


def _audit(c: Container, subject_id: str) -> list[tuple[str, str]]:
    with c.sessions() as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.object)
            .where(AuditEntry.subject == subject_id)
            .order_by(AuditEntry.seq)
        )
        return [(str(a), str(o)) for a, o in rows]


def _footprint(c: Container) -> dict[str, Any]:
    """Rows of every personal table, the outbox and the jobs, and the blob files on disk."""
    with c.sessions() as s:
        counts = {
            d.table.__tablename__: s.scalar(select(func.count()).select_from(d.table))
            for d in c.personal_data.personal
        }
        counts["outbox"] = s.scalar(select(func.count()).select_from(OutboxMessage))
        counts["jobs"] = s.scalar(select(func.count()).select_from(Job))
    blobs = sorted(str(p) for p in c.settings.blob_dir.rglob("*") if p.is_file())
    return {"rows": counts, "blobs": blobs}


def _refused_writing_nothing(
    c: Container, subject_id: str, expected: str, act: Callable[[], object]
) -> ProcessingRefused:
    """Run `act`: it must be refused, audited as `expected`, and leave no other trace."""
    before, audited = _footprint(c), _audit(c, subject_id)
    with pytest.raises(ProcessingRefused) as refused:
        act()
    assert _audit(c, subject_id) == [*audited, (REFUSED, expected)]
    assert _footprint(c) == before
    return refused.value


# --- Service use cases: refused by a policy that does not declare the category ------------


def test_create_upload_is_refused_and_stores_no_photo(
    container: Container, narrowed: Narrowing
) -> None:
    user_id = _subject(container)
    c = narrowed("uploaded_image")
    photo = photo_bytes()
    _refused_writing_nothing(
        c,
        user_id,
        "purpose:service:category",
        lambda: uploads.create_upload(c, user_id=user_id, data=photo),
    )
    with c.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Upload)) == 0


def _with_photo(c: Container) -> tuple[str, str]:
    user_id = _subject(c)
    return user_id, uploads.create_upload(c, user_id=user_id, data=photo_bytes()).id


def test_list_uploads_is_refused(container: Container, narrowed: Narrowing) -> None:
    user_id, _ = _with_photo(container)
    c = narrowed("uploaded_image")
    _refused_writing_nothing(
        c, user_id, "purpose:service:category", lambda: uploads.list_uploads(c, user_id=user_id)
    )


def test_get_upload_is_refused(container: Container, narrowed: Narrowing) -> None:
    user_id, upload_id = _with_photo(container)
    c = narrowed("uploaded_image")
    _refused_writing_nothing(
        c,
        user_id,
        "purpose:service:category",
        lambda: uploads.get_upload(c, user_id=user_id, upload_id=upload_id),
    )


def test_open_content_is_refused_and_no_read_is_recorded(
    container: Container, narrowed: Narrowing
) -> None:
    user_id, upload_id = _with_photo(container)
    c = narrowed("uploaded_image")
    _refused_writing_nothing(
        c,
        user_id,
        "purpose:service:category",
        lambda: uploads.open_content(c, user_id=user_id, upload_id=upload_id),
    )
    assert ("upload:content:read", f"upload:{upload_id}") not in _audit(c, user_id)


def test_open_model_content_is_refused_and_no_read_is_recorded(
    container: Container, worker: Worker, narrowed: Narrowing
) -> None:
    user_id, model_id = _with_model(container, worker)
    c = narrowed("generated_model")
    _refused_writing_nothing(
        c,
        user_id,
        "purpose:service:category",
        lambda: generation.open_model_content(c, user_id=user_id, model_id=model_id, fmt="stl"),
    )
    assert not [a for a, _ in _audit(c, user_id) if a == "model:content:read"]


def _with_model(c: Container, worker: Worker) -> tuple[str, str]:
    user_id, upload_id = _with_photo(c)
    model = generation.request_model(c, user_id=user_id, upload_id=upload_id)
    worker.run_until_idle()
    return user_id, model.id


def test_list_models_is_refused(container: Container, worker: Worker, narrowed: Narrowing) -> None:
    user_id, _ = _with_model(container, worker)
    c = narrowed("generated_model")
    _refused_writing_nothing(
        c, user_id, "purpose:service:category", lambda: generation.list_models(c, user_id=user_id)
    )


def test_get_model_is_refused(container: Container, worker: Worker, narrowed: Narrowing) -> None:
    user_id, model_id = _with_model(container, worker)
    c = narrowed("generated_model")
    _refused_writing_nothing(
        c,
        user_id,
        "purpose:service:category",
        lambda: generation.get_model(c, user_id=user_id, model_id=model_id),
    )


def test_get_profile_is_refused(container: Container, narrowed: Narrowing) -> None:
    user_id = _subject(container)
    c = narrowed("account")
    _refused_writing_nothing(
        c, user_id, "purpose:service:category", lambda: accounts.get_profile(c, user_id=user_id)
    )


def test_own_profile_is_refused(container: Container, narrowed: Narrowing) -> None:
    user_id = _subject(container)
    issued = authentication.login(container, login="ada", password=PASSWORD, client_ip="::1")
    c = narrowed("account")
    _refused_writing_nothing(
        c, user_id, "purpose:service:category", lambda: accounts.own_profile(c, token=issued.token)
    )


def test_apply_correction_is_refused_and_the_profile_is_unchanged(
    container: Container, narrowed: Narrowing
) -> None:
    user_id = _subject(container)
    c = narrowed("account")
    _refused_writing_nothing(
        c,
        user_id,
        "purpose:service:category",
        lambda: rectification.correct(c, user_id=user_id, name="Ada King"),
    )
    assert accounts.get_profile(container, user_id=user_id).name == "Ada Lovelace"


def test_build_archive_is_refused_and_makes_no_archive(
    container: Container, narrowed: Narrowing
) -> None:
    user_id = _subject(container)
    request = intake.submit(container, user_id=user_id, type="access")
    c = narrowed("rights_archive")
    blobs = _footprint(c)["blobs"]
    Worker(c).run_until_idle()
    assert (REFUSED, "purpose:service:category") in _audit(c, user_id)
    assert not [a for a, _ in _audit(c, user_id) if a == "rights:archive:created"]
    with c.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Archive)) == 0
    assert _footprint(c)["blobs"] == blobs
    done = intake.get_for_subject(c, user_id=user_id, request_id=request.id)
    assert done.status != "completed"


def test_audited_stream_is_refused_and_no_download_is_recorded(
    container: Container, worker: Worker, narrowed: Narrowing
) -> None:
    user_id = _subject(container)
    request = intake.submit(container, user_id=user_id, type="access")
    worker.run_until_idle()
    c = narrowed("rights_archive")
    _refused_writing_nothing(
        c,
        user_id,
        "purpose:service:category",
        lambda: access.open_download(c, user_id=user_id, request_id=request.id),
    )
    assert not [a for a, _ in _audit(c, user_id) if a == "rights:archive:downloaded"]


def test_tell_skips_a_user_the_policy_does_not_let_the_service_mail(
    container: Container, narrowed: Narrowing
) -> None:
    # `allowed`, not `ensure_allowed`: optional processing that is simply not done, so no
    # refusal entry; the user is neither mailed nor asked to acknowledge.
    assert publication.publish_if_new(container).new
    user_id = _subject(container)
    c = narrowed("message", version="2026-03-01")
    assert publication.publish_if_new(c).new
    assert notify.notify_users(c) == 0
    with c.sessions() as s:
        kinds = list(s.scalars(select(OutboxMessage.kind).where(OutboxMessage.kind == notify.KIND)))
        asked = list(s.scalars(select(PolicyAcknowledgement.subject_id)))
    assert (kinds, asked) == ([], [])
    assert _audit(c, user_id) == _audit(container, user_id)  # nothing about them recorded


# --- Generation: refused by a restriction (Art. 18) ---------------------------------------


def _restrict(c: Container, user_id: str) -> None:
    """Restrict the account as the restriction fulfiller does, without stopping its jobs."""
    with c.uow() as uow:
        accounts.set_restricted(uow, user_id=user_id, since=c.clock.now())
        uow.commit()


def test_request_model_is_refused_while_restricted_and_queues_nothing(
    container: Container,
) -> None:
    user_id, upload_id = _with_photo(container)
    _restrict(container, user_id)
    refused = _refused_writing_nothing(
        container,
        user_id,
        "purpose:generation:restricted",
        lambda: generation.request_model(container, user_id=user_id, upload_id=upload_id),
    )
    assert refused.purpose == "generation"
    with container.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Model3D)) == 0


def test_load_for_generation_refuses_a_job_queued_before_the_restriction(
    container: Container, worker: Worker
) -> None:
    # The restriction's fulfiller stops queued jobs; this is the check behind it, for a job
    # that is already running or that the fulfiller missed.
    user_id, upload_id = _with_photo(container)
    model = generation.request_model(container, user_id=user_id, upload_id=upload_id)
    _restrict(container, user_id)
    blobs = _footprint(container)["blobs"]
    worker.run_until_idle()
    actions = [a for a, _ in _audit(container, user_id)]
    assert (REFUSED, "purpose:generation:restricted") in _audit(container, user_id)
    assert "model:generation:completed" not in actions
    assert generation.get_model(container, user_id=user_id, model_id=model.id).status == "failed"
    with container.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ModelFile)) == 0
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == 0
    assert _footprint(container)["blobs"] == blobs
