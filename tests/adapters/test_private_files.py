"""The one private-file writer: 0600 whatever the umask, atomic, nothing left when it fails."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from minimaker.adapters.private_files import (
    PrivateFileWriter,
    move_into_place,
    open_private,
    write_private,
)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """An operator's shell that lets everyone read and write new files."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_written_file_is_0600_even_with_a_lax_umask(tmp_path: Path, lax_umask: None) -> None:
    target = tmp_path / "master.key"
    write_private(target, b"secret\n")
    assert target.read_bytes() == b"secret\n"
    assert mode(target) == 0o600


def test_a_streamed_file_is_0600_while_written_and_after(tmp_path: Path, lax_umask: None) -> None:
    target = tmp_path / "backup.tar"
    with PrivateFileWriter(target) as fh:
        fh.write(b"part one, ")
        fh.flush()
        (temp,) = tmp_path.iterdir()
        assert temp.name.startswith(".tmp-")
        assert mode(temp) == 0o600
        fh.write(b"part two")
    assert list(tmp_path.iterdir()) == [target]
    assert target.read_bytes() == b"part one, part two"
    assert mode(target) == 0o600


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_a_failed_writer_leaves_nothing_behind_and_the_old_file_as_it_was(
    tmp_path: Path, interruption: type[BaseException]
) -> None:
    target = tmp_path / "message.eml"
    write_private(target, b"version 1")
    with pytest.raises(interruption), PrivateFileWriter(target) as fh:
        fh.write(b"half of version 2")
        raise interruption
    assert list(tmp_path.iterdir()) == [target]
    assert target.read_bytes() == b"version 1"


def test_a_writer_into_a_missing_folder_fails_before_the_work_starts(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PrivateFileWriter(tmp_path / "no" / "such" / "folder" / "b.tar")


def test_an_existing_file_is_replaced_by_a_new_one_not_rewritten_in_place(
    tmp_path: Path,
) -> None:
    target = tmp_path / "master.key"
    write_private(target, b"old key")
    reader = target.open("rb")  # someone holding the old file open, e.g. a running process
    with PrivateFileWriter(target) as fh:
        fh.write(b"new key")
        fh.flush()
        assert target.read_bytes() == b"old key"  # readers never see a half-written file
    assert target.read_bytes() == b"new key"
    with reader:
        assert reader.read() == b"old key"  # a new inode took the name; the old one is whole


def test_without_replace_an_existing_file_wins_and_nothing_is_left_behind(
    tmp_path: Path,
) -> None:
    target = tmp_path / "master.key"
    write_private(target, b"made by the first process")
    with pytest.raises(FileExistsError):
        write_private(target, b"made by the second", replace=False)
    assert list(tmp_path.iterdir()) == [target]
    assert target.read_bytes() == b"made by the first process"
    write_private(tmp_path / "fresh.key", b"new", replace=False)
    assert (tmp_path / "fresh.key").read_bytes() == b"new"


def test_a_symlink_at_the_temp_path_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"must stay as it is")
    planted = tmp_path / ".tmp-planted"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        os.close(open_private(planted))
    dangling = tmp_path / ".tmp-dangling"
    dangling.symlink_to(tmp_path / "would-be-created")
    with pytest.raises(FileExistsError):
        os.close(open_private(dangling))
    assert victim.read_bytes() == b"must stay as it is"
    assert not (tmp_path / "would-be-created").exists()


def test_a_pending_file_moved_into_place_replaces_the_target(tmp_path: Path) -> None:
    target, pending = tmp_path / "master.key", tmp_path / "master.key.next"
    write_private(target, b"old")
    write_private(pending, b"new")
    move_into_place(pending, target)
    assert sorted(tmp_path.iterdir()) == [target]
    assert (target.read_bytes(), mode(target)) == (b"new", 0o600)
