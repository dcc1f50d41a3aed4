"""Master-key rotation re-wraps every data key; blobs are untouched; the old key stops working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.adapters import audit_chain as audit
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.adapters.crypto.keys import MasterKey, encode_key, generate_key
from minimaker.bootstrap import build
from minimaker.kernel.container import Container
from minimaker.kernel.errors import KeyUnavailable
from minimaker.mail import outbox
from minimaker.mail.tables import OutboxMessage
from minimaker.operations import key_rotation
from minimaker.settings import Settings
from minimaker.uploads import service as uploads
from tests.conftest import photo_bytes


def _people(c, n: int = 3) -> list[tuple[str, str, bytes]]:  # type: ignore[no-untyped-def]
    made = []
    for i in range(n):
        p = accounts.signup(
            c,
            name=f"Person {i}",
            email=f"p{i}@example.org",
            username=f"person{i}",
            password="long enough password",
        )
        data = photo_bytes(seed=i)
        up = uploads.create_upload(c, user_id=p.id, data=data)
        made.append((p.id, up.id, data))
    return made


def _cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a real `minimaker` process needs to reach this test's stores."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMAKER_")}
    env.update(
        MINIMAKER_DATA_DIR=str(settings.data_dir),
        MINIMAKER_DATABASE_URL=settings.resolved_database_url(),
        MINIMAKER_KEYSTORE_URL=settings.resolved_keystore_url(),
        **extra,
    )
    return env


def _rotate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`minimaker keys rotate-master ARGS` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "minimaker.entrypoints.cli", "keys", "rotate-master", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _blob_files(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in (root / "blobs").rglob("*") if p.is_file()}


def _read_all(settings: Settings, made: list[tuple[str, str, bytes]]) -> None:
    c = build(settings)
    try:
        for user_id, upload_id, data in made:
            _, chunks = uploads.open_content(c, user_id=user_id, upload_id=upload_id)
            assert b"".join(chunks) == data
            assert accounts.get_profile(c, user_id=user_id).email.endswith("@example.org")
    finally:
        c.close()


def test_rotation_with_a_given_key_keeps_everything_readable_and_retires_the_old_key(
    settings: Settings, tmp_path: Path
) -> None:
    c = build(settings)
    made = _people(c)
    with c.uow() as uow:
        outbox.queue_to_subject(
            uow, subject_id=made[0][0], kind="probe", subject="Queued before", body="rotation"
        )
        uow.commit()
    c.close()
    blobs_before = _blob_files(settings.data_dir)
    new_key = encode_key(generate_key())
    env = _cli_env(settings, MINIMAKER_MASTER_KEY=settings.master_key or "")
    done = _rotate(env, "--new-key", new_key)
    assert done.returncode == 0, done.stderr
    assert "re-wrapped 3 data key(s)" in done.stderr
    assert _blob_files(settings.data_dir) == blobs_before  # not one blob byte rewritten
    _read_all(settings.model_copy(update={"master_key": new_key}), made)
    rotated = build(settings.model_copy(update={"master_key": new_key}))
    try:
        with rotated.uow(write=False) as uow:
            (row,) = uow.session.scalars(select(OutboxMessage)).all()
            assert outbox.open_message(uow, row)["body"] == "rotation"  # mail survives too
    finally:
        rotated.close()
    old = build(settings)
    try:
        with pytest.raises(KeyUnavailable):
            accounts.get_profile(old, user_id=made[0][0])
        with pytest.raises(KeyUnavailable):
            uploads.open_content(old, user_id=made[0][0], upload_id=made[0][1])
    finally:
        old.close()


def test_rotation_of_the_local_key_file_rewrites_the_file_with_mode_0600(
    settings: Settings,
) -> None:
    file_settings = settings.model_copy(update={"master_key": None})
    c = build(file_settings)  # creates the key file
    made = _people(c, 2)
    c.close()
    key_file = file_settings.resolved_master_key_file()
    old_text = key_file.read_text()
    env = _cli_env(settings)
    done = _rotate(env)
    assert done.returncode == 0, done.stderr
    assert key_file.read_text() != old_text
    assert key_file.stat().st_mode & 0o777 == 0o600
    leftovers = [p.name for p in key_file.parent.iterdir() if p.name.startswith(key_file.name)]
    assert leftovers == [key_file.name]  # the pending .next file took the key file's name
    assert not list(key_file.parent.glob(".tmp-*"))
    _read_all(file_settings, made)
    old = build(settings.model_copy(update={"master_key": old_text.strip()}))
    try:
        with pytest.raises(KeyUnavailable):
            accounts.get_profile(old, user_id=made[0][0])
    finally:
        old.close()


def test_rotation_refuses_to_guess_when_the_key_comes_from_the_environment(
    settings: Settings,
) -> None:
    env = _cli_env(settings, MINIMAKER_MASTER_KEY=settings.master_key or "")
    done = _rotate(env)
    assert done.returncode == 2
    assert "--new-key" in done.stderr


def test_a_malformed_new_key_changes_nothing(settings: Settings) -> None:
    c = build(settings)
    made = _people(c, 1)
    c.close()
    env = _cli_env(settings, MINIMAKER_MASTER_KEY=settings.master_key or "")
    done = _rotate(env, "--new-key", "too-short")
    assert done.returncode != 0
    _read_all(settings, made)


def _audited(c: Container, action: str) -> list[AuditEntry]:
    with c.sessions() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        s.expunge_all()
        return entries


def test_the_rotation_service_reports_progress_and_audits_the_new_key_id_never_the_key(
    container: Container,
) -> None:
    made = _people(container, 3)
    new_key, seen = generate_key(), []
    report = key_rotation.rotate_master_key(
        container, new_key=new_key, progress=lambda done, total: seen.append((done, total))
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert (report.data_keys, report.messages, report.key_file) == (3, 0, None)
    assert report.kek_id == MasterKey(new_key).kek_id
    [entry] = _audited(container, "operations:master_key:rotated")
    assert (entry.actor, entry.subject, entry.purpose) == ("system:cli", None, "security")
    assert entry.object == f"master_key:{report.kek_id}"
    with container.engine.connect() as conn:
        dumped = repr(conn.execute(select(AuditEntry.__table__)).all())
    assert encode_key(new_key) not in dumped and new_key.hex() not in dumped
    audit.verify(container.engine)
    # This process goes on under the new key: its reads and its new mail use it.
    assert accounts.get_profile(container, user_id=made[0][0]).email == "p0@example.org"
    with container.uow() as uow:
        outbox.queue_message(
            uow, subject_id=None, to="ops@example.org", kind="probe", subject="After", body="new"
        )
        uow.commit()
    rotated = build(container.settings.model_copy(update={"master_key": encode_key(new_key)}))
    try:
        with rotated.uow(write=False) as uow:
            (row,) = uow.session.scalars(select(OutboxMessage)).all()
            assert outbox.open_message(uow, row)["body"] == "new"
    finally:
        rotated.close()


def test_the_rotation_service_will_not_generate_a_key_the_environment_would_hide(
    container: Container,
) -> None:
    made = _people(container, 1)
    key_file = container.settings.resolved_master_key_file()
    with pytest.raises(key_rotation.NewKeyRequired):
        key_rotation.rotate_master_key(container, new_key=None)
    assert not key_file.with_name(key_file.name + ".next").exists()
    assert _audited(container, "operations:master_key:rotated") == []
    assert accounts.get_profile(container, user_id=made[0][0]).email == "p0@example.org"
