"""Private files written atomically: keys, backups, mail files and blobs all go through here.

A file is written to a temp file beside its target (`.tmp-<random>`: nothing personal in the
name, and no clash between concurrent writers), created exclusively with mode 0600 and never
through a link, fsynced, then renamed over the target (or linked into place when an existing
file must win), and the folder is fsynced so the new name survives a crash. A writer that fails
leaves nothing behind and the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from types import TracebackType
from typing import BinaryIO, cast

#: Exclusive create, no symlink followed at the last component, not inherited by children.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
TEMP_PREFIX = ".tmp-"
StrPath = str | os.PathLike[str]


def open_private(path: StrPath) -> int:
    """A new file at `path`, mode 0600, as a descriptor; FileExistsError if anything is there.

    Anything includes a symlink, dangling or not: a link planted at the path is never
    followed, so no other file can be truncated or disclosed through it.
    """
    fd = os.open(path, _CREATE, 0o600)
    try:
        # The umask can only take bits away from 0600; fchmod makes it exactly 0600 whatever
        # umask the operator's shell left us.
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    return fd


def fsync_dir(folder: StrPath) -> None:
    """Make the folder's entries (a new, renamed or removed name) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PrivateFileWriter:
    """A 0600 temp file beside `path` that becomes `path` only if the `with` block succeeds.

    The temp file is opened here, so a folder that cannot be written fails at construction,
    before any work is done. `replace=False` never overwrites: a file already at `path` wins,
    and the writer raises FileExistsError at the end of the block.
    """

    def __init__(self, path: StrPath, *, replace: bool = True) -> None:
        # Plain strings, not pathlib: blob writes come through here, and pathlib's parsing
        # was a tenth of a small blob's write time on a fast disk.
        self.path = os.fspath(path)
        self.replace = replace
        self.folder = os.path.dirname(self.path) or "."
        self.temp = os.path.join(self.folder, f"{TEMP_PREFIX}{secrets.token_hex(8)}")
        self._file = os.fdopen(open_private(self.temp), "wb")

    def __enter__(self) -> BinaryIO:
        return cast(BinaryIO, self._file)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            # Interrupted or failed writers leave nothing behind, not even a partial file.
            self._discard()
            return
        try:
            self._commit()
        except BaseException:
            self._discard()
            raise

    def _commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.replace:
            os.replace(self.temp, self.path)
        else:
            os.link(self.temp, self.path)  # atomic and never clobbers: EEXIST if taken
            os.unlink(self.temp)
        fsync_dir(self.folder)

    def _discard(self) -> None:
        try:
            self._file.close()  # may flush and fail again (a full disk): remove it anyway
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)


def write_private(path: StrPath, data: bytes, *, replace: bool = True) -> None:
    """Write `data` as the 0600 file `path`, atomically and durably (see PrivateFileWriter)."""
    with PrivateFileWriter(path, replace=replace) as fh:
        fh.write(data)


def move_into_place(source: StrPath, target: StrPath) -> None:
    """Rename `source` over `target` (same folder) atomically, and make the rename durable."""
    os.replace(source, target)
    fsync_dir(os.path.dirname(os.fspath(target)) or ".")
