"""Scoping a stolen backup and an exposed key: the backup's subjects, protected while no key
went with it (Art. 34(3)(a)); a master key's subjects, not protected."""

from __future__ import annotations

from pathlib import Path

from minimaker.adapters.crypto.keys import generate_key
from minimaker.breach.exposure import Exposure, ExposureKind
from minimaker.breach.scope import scope
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.operations.key_rotation import rotate_master_key
from tests.breach.seeding import stolen_backup, subject


def test_a_stolen_backup_made_before_a_rotation_scopes_its_subjects_as_encrypted(
    container: Container, clock: ManualClock, tmp_path: Path
) -> None:
    c = container
    stolen = tmp_path / "stolen.tar"
    ada, bob, _ = stolen_backup(c, clock, stolen)
    result = scope(c, [Exposure(ExposureKind.LOCATION, ref=f"backup:{stolen}")])
    assert result.subject_ids == {ada, bob}
    photos = [x for x in result.categories if x.category == "uploaded_image"]
    assert [(x.subjects, x.records) for x in photos] == [(1, 1)]
    assert result.encrypted_under_uncompromised_keys is True
    assert "never the key store" in result.encryption_note
    assert "rotated 1 time(s) since the backup" in result.encryption_note
    assert any("Not encrypted" in n for n in result.notes)


def test_the_master_key_in_use_exposed_scopes_everyone_as_not_protected(
    container: Container,
) -> None:
    c = container
    ada, bob = subject(c, "ada"), subject(c, "bob")
    result = scope(c, [Exposure(ExposureKind.KEY, ref=f"master:{c.master.kek_id}")])
    assert result.subject_ids == {ada, bob}
    assert result.encrypted_under_uncompromised_keys is False
    assert "master key was exposed" in result.encryption_note


def test_a_retired_master_key_scopes_the_keys_that_existed_while_it_was_in_force(
    container: Container, clock: ManualClock
) -> None:
    c = container
    first = c.master.kek_id
    ada = subject(c, "ada")
    clock.advance(hours=1)
    second = rotate_master_key(c, new_key=generate_key()).kek_id
    clock.advance(hours=1)
    bob = subject(c, "bob")
    clock.advance(hours=1)
    rotate_master_key(c, new_key=generate_key())
    clock.advance(hours=1)
    cyd = subject(c, "cyd")
    assert scope(c, [Exposure(ExposureKind.KEY, ref=f"master:{first}")]).subject_ids == {ada}
    by_second = scope(c, [Exposure(ExposureKind.KEY, ref=f"master:{second}")])
    assert by_second.subject_ids == {ada, bob}
    assert any("retired master key" in n for n in by_second.notes)
    now = scope(c, [Exposure(ExposureKind.KEY, ref=f"master:{c.master.kek_id}")])
    assert now.subject_ids == {ada, bob, cyd}


def test_one_subject_key_exposed_scopes_that_subject_alone(container: Container) -> None:
    c = container
    ada = subject(c, "ada")
    subject(c, "bob")
    result = scope(c, [Exposure(ExposureKind.KEY, ref=f"subject:{ada}")])
    assert result.subject_ids == {ada}
    assert result.encrypted_under_uncompromised_keys is False
