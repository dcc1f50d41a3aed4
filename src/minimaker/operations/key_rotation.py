"""Master-key rotation: every wrapped key re-wrapped under a new master key; blobs untouched.

Data keys and service secrets live in the key store, the keys of undelivered mail in the
outbox: both are re-wrapped, and the rotation is audited in the data database by the new key's
id (a fingerprint, never the key). A generated key is written to `<key file>.next` before
anything is re-wrapped, so a crash half-way leaves the new key on disk, and it takes the key
file's name only once every key is re-wrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minimaker.adapters.crypto.keys import MasterKey, encode_key, generate_key
from minimaker.adapters.private_files import move_into_place, write_private
from minimaker.kernel.actors import SYSTEM_CLI
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from minimaker.mail import outbox
from minimaker.operations import events

Progress = Callable[[int, int], None]


class NewKeyRequired(ConfigurationError):
    """The master key comes from the environment: a new one must be given, not generated."""

    def __init__(self) -> None:
        super().__init__("MINIMAKER_MASTER_KEY is set: the new master key must be given")


@dataclass(frozen=True)
class RotationReport:
    """What a rotation re-wrapped, and where a generated key was written."""

    data_keys: int
    messages: int
    kek_id: str  # the new master key's fingerprint
    key_file: Path | None  # the key file holding a generated key; None when one was given


def rotate_master_key(
    c: Container, *, new_key: bytes | None, progress: Progress | None = None
) -> RotationReport:
    """Re-wrap every data key, secret and mail key under `new_key` (None: generate one)."""
    if new_key is None and c.settings.master_key:
        # A generated key would go to a key file that no process reads.
        raise NewKeyRequired()
    generated = new_key is None
    raw = generate_key() if new_key is None else new_key
    new, old = MasterKey(raw), c.master
    key_file = c.settings.resolved_master_key_file()
    pending = key_file.with_name(key_file.name + ".next")
    if generated:
        write_private(pending, (encode_key(raw) + "\n").encode("ascii"))
    count = c.keys.rotate_master(new, progress=progress)
    with c.uow() as uow:
        # Mail not yet delivered is sealed under keys the master key wraps too.
        messages = outbox.rewrap_keys(uow, old=old, new=new)
        uow.audit(events.MASTER_KEY_ROTATED, actor=SYSTEM_CLI, object=f"master_key:{new.kek_id}")
        uow.commit()
    if generated:
        move_into_place(pending, key_file)
    c.master = new  # this process goes on under the new key, as its key store already does
    return RotationReport(count, messages, new.kek_id, key_file if generated else None)
