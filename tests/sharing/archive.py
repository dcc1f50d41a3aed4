"""What the sharing tests read back: the disclosure log, the audit, the subject's archive."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from sqlalchemy import select

from minimaker.accounts import service as accounts
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.rights import access, intake
from minimaker.rights.tables import Disclosure


def subject(c: Container, username: str = "ada") -> str:
    """A new account, by the service; its id."""
    return accounts.signup(
        c,
        name=f"{username.title()} Example",
        email=f"{username}@example.org",
        username=username,
        password="correct horse battery staple",
    ).id


def disclosures(c: Container) -> list[tuple[str, str, str, str]]:
    """Every row of the disclosure log: (subject, recipient, categories, purpose)."""
    with c.sessions() as s:
        rows = s.scalars(select(Disclosure).order_by(Disclosure.at, Disclosure.id))
        return [(d.subject_id, d.recipient, d.categories, d.purpose) for d in rows]


def audit(c: Container, action: str) -> list[tuple[str | None, str | None, str | None]]:
    """The audit entries of `action`: (subject, object, purpose), oldest first."""
    with c.sessions() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return [(e.subject, e.object, e.purpose) for e in rows]


def archive_recipients(c: Container, worker: Worker, user_id: str) -> dict[str, dict[str, Any]]:
    """The recipients an access archive made now lists for the subject (Art. 15(1)(c))."""
    request = intake.submit(c, user_id=user_id, type="access")
    worker.run_until_idle()
    download = access.open_download(c, user_id=user_id, request_id=request.id)
    with zipfile.ZipFile(io.BytesIO(b"".join(download.chunks))) as zf:
        doc = json.loads(zf.read("data.json"))
    return {r["recipient"]: r for r in doc["information"]["recipients"]}
