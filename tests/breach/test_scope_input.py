"""Bad exposures get a clear 4xx error that names what is wrong, never whose data it is."""

from __future__ import annotations

import io
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from minimaker.breach.exposure import Exposure, ExposureKind
from minimaker.breach.scope import scope
from minimaker.breach.scope_rows import MAX_BLOBS, ExposureInvalid
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import MiniMakerError
from minimaker.operations.backup import BackupError
from tests.breach.seeding import subject

ID = "a" * 32


def _refused(c: Container, exposure: object) -> MiniMakerError:
    with pytest.raises(MiniMakerError) as caught:
        scope(c, [exposure])  # type: ignore[list-item]
    assert 400 <= caught.value.status < 500, caught.value
    return caught.value


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "bogus"}, "kind"),
        ({"kind": ExposureKind.STAFF_ACCOUNT, "ref": "sam"}, "ref"),
        ({"kind": ExposureKind.STAFF_ACCOUNT, "ref": "A" * 32}, "ref"),
        ({"kind": ExposureKind.WINDOW}, "start"),
        ({"kind": ExposureKind.BLOBS}, "blob_ids"),
        ({"kind": ExposureKind.BLOBS, "blob_ids": ("../etc/passwd",)}, "blob_ids"),
        ({"kind": ExposureKind.LOCATION, "blob_ids": (ID,), "ref": "database"}, "blob_ids"),
        ({"kind": ExposureKind.LOCATION, "ref": "attic"}, "ref"),
        ({"kind": ExposureKind.LOCATION, "ref": "backup:"}, "ref"),
        ({"kind": ExposureKind.KEY, "ref": "subject:ada"}, "ref"),
        ({"kind": ExposureKind.KEY, "ref": "master:XYZ"}, "ref"),
        ({"kind": ExposureKind.KEY, "ref": ID}, "ref"),
    ],
)
def test_a_malformed_exposure_is_refused_naming_its_field(
    container: Container, fields: dict[str, object], field: str
) -> None:
    error = _refused(container, Exposure(**fields))  # type: ignore[arg-type]
    assert error.status == 422 and getattr(error, "field", None) == field
    assert "sam" not in error.message


def test_a_window_whose_end_is_not_after_its_start_is_refused(
    container: Container, clock: ManualClock
) -> None:
    start = clock.now() - timedelta(hours=2)
    for end in (start, start - timedelta(seconds=1)):
        error = _refused(container, Exposure(ExposureKind.WINDOW, start=start, end=end))
        assert getattr(error, "field", None) == "end"


def test_naive_or_future_times_are_refused(container: Container, clock: ManualClock) -> None:
    naive = datetime(2025, 1, 1)  # the naive time under test
    error = _refused(container, Exposure(ExposureKind.WINDOW, start=naive))
    assert getattr(error, "field", None) == "start"
    future = clock.now() + timedelta(days=1)
    error = _refused(container, Exposure(ExposureKind.WINDOW, start=future))
    assert getattr(error, "field", None) == "start"


def test_no_exposure_or_too_many_blobs_is_refused(container: Container) -> None:
    with pytest.raises(MiniMakerError) as caught:
        scope(container, [])
    assert caught.value.status == 422
    many = tuple(f"{i:032x}" for i in range(MAX_BLOBS + 1))
    error = _refused(container, Exposure(ExposureKind.BLOBS, blob_ids=many))
    assert getattr(error, "field", None) == "blob_ids"


def test_an_unknown_staff_id_subject_or_master_key_is_not_found(container: Container) -> None:
    c = container
    subject(c, "ada")
    for exposure in (
        Exposure(ExposureKind.STAFF_ACCOUNT, ref=ID),
        Exposure(ExposureKind.KEY, ref=f"subject:{ID}"),
        Exposure(ExposureKind.KEY, ref="master:" + "0" * 16),
    ):
        assert _refused(c, exposure).status == 404, exposure


def _tar_without_manifest(path: Path) -> None:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("tables/users.jsonl")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"{}\n"))


def test_a_backup_path_that_is_not_a_backup_is_refused(
    container: Container, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a backup\n")
    bare = tmp_path / "bare.tar"
    _tar_without_manifest(bare)
    (tmp_path / "folder").mkdir()
    for path, words in (
        (tmp_path / "missing.tar", "no backup file"),
        (text, "not a readable tar"),
        (bare, "no manifest"),
        (tmp_path / "folder", "no backup file"),
    ):
        error = _refused(container, Exposure(ExposureKind.LOCATION, ref=f"backup:{path}"))
        assert isinstance(error, BackupError) and words in error.message, (path, error)
        assert error.status == 400


def test_a_backup_outside_the_backup_directory_is_refused_before_any_file_is_read(
    container: Container, tmp_path: Path
) -> None:
    assert container.settings.backup_dir == tmp_path
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.tar"
    outside.write_bytes(b"not read")
    link = tmp_path / "link.tar"
    link.symlink_to(outside)
    for ref in ("/etc/passwd", "../x.tar", str(outside), str(link), str(tmp_path), "."):
        error = _refused(container, Exposure(ExposureKind.LOCATION, ref=f"backup:{ref}"))
        assert isinstance(error, ExposureInvalid), ref
        assert error.status == 422 and "backup directory" in error.message, ref
