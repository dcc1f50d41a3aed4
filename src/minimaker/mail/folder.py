"""The outbox folder's files, sealed: under the subject's key, or the folder key without one.

Without SMTP, mail waits in `<data_dir>/outbox` for an operator (adapters/mailers.py,
`OutboxDirMailer`). A message file holds an address and a text, so it is never plaintext at
rest (policy 5.1): it is sealed with AES-256-GCM under the data key of the message's subject
while that key exists, so an erasure crypto-shreds it with everything else of theirs, or else
under the folder key, a key-store secret wrapped by the master key (mail with no subject, or
the erasure confirmation, delivered after the subject's key is gone). The message id and the
key's name are bound to the ciphertext: a file renamed to another message does not open.

The files go too: an erasure deletes the subject's files (`remove_subject_files`, in the
erasure's unit of work), and `minimaker outbox list --show` removes a file once shown
(docs/decisions/0014).
"""

from __future__ import annotations

from sqlalchemy import select

from minimaker.adapters import mailers as mail
from minimaker.adapters.crypto.fields import open_field, seal_field
from minimaker.kernel.container import Container
from minimaker.kernel.errors import KeyUnavailable
from minimaker.kernel.unit_of_work import UnitOfWork
from minimaker.mail.tables import ERASURE_CONFIRMATION, OutboxMessage

#: The key-store secret that seals message files with no subject key to seal them under.
FOLDER_SECRET = "outbox_folder"  # noqa: S105 - the name of a key-store secret, not a secret
_MAGIC = b"minimaker-sealed-mail/1 "
SUBJECT, FOLDER = "subject", "folder"


class FolderSealer:
    """Seals and opens the outbox folder's files with the container's keys."""

    def __init__(self, c: Container) -> None:
        self.c = c

    def seal(self, message_id: str, data: bytes) -> bytes:
        """`data` sealed for the file `<message_id>.mail`, under the best key there is."""
        subject_id = self._subject_of(message_id)
        if subject_id is not None and self.c.keys.has_subject_key(subject_id):
            kind, key = SUBJECT, self.c.keys.subject_key(subject_id)
        else:
            kind, key = FOLDER, self.c.secret(FOLDER_SECRET)
        value = data.decode("utf-8")
        sealed = seal_field(key, subject_id=message_id, field=f"mail_file:{kind}", value=value)
        return _MAGIC + kind.encode("ascii") + b"\n" + sealed

    def open(self, message_id: str, sealed: bytes) -> bytes:
        """The file's text; KeyUnavailable when its key is gone (the subject was erased)."""
        header, newline, body = sealed.partition(b"\n")
        kind = header.removeprefix(_MAGIC).decode("ascii", errors="replace")
        if not newline or not header.startswith(_MAGIC) or kind not in (SUBJECT, FOLDER):
            raise KeyUnavailable("the message file is not a sealed message")
        if kind == SUBJECT:
            subject_id = self._subject_of(message_id)
            if subject_id is None:
                raise KeyUnavailable("the message file's subject was erased")
            key = self.c.keys.subject_key(subject_id)
        else:
            key = self.c.secret(FOLDER_SECRET)
        text = open_field(key, subject_id=message_id, field=f"mail_file:{kind}", sealed=body)
        return text.encode("utf-8")

    def _subject_of(self, message_id: str) -> str | None:
        with self.c.uow(write=False) as uow:
            return uow.session.scalar(
                select(OutboxMessage.subject_id).where(OutboxMessage.id == message_id)
            )


def folder_mailer(c: Container) -> mail.OutboxDirMailer:
    """The outbox folder of this installation, its files sealed with the container's keys."""
    return mail.OutboxDirMailer(
        c.settings.outbox_dir, sender=c.settings.mail_from, sealer=FolderSealer(c)
    )


def remove_subject_files(uow: UnitOfWork, subject_id: str) -> int:
    """Art. 17: delete every file of the subject's mail waiting in the folder; how many.

    The erasure confirmation is spared: it is the last message, meant to reach the subject,
    written after their key is gone (so under the folder key) and removed once shown.
    """
    ids = uow.session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.subject_id == subject_id, OutboxMessage.kind != ERASURE_CONFIRMATION
        )
    ).all()
    folder = folder_mailer(uow.c)
    return sum(1 for message_id in ids if folder.remove(message_id))
