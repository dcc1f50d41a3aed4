"""Publishing a version: once, whole, audited; at start-up and by `minimaker policy publish`;
a version string reused with other content is refused and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from minimaker.adapters.audit_chain import AuditEntry
from minimaker.kernel.container import Container
from minimaker.operations import startup
from minimaker.publication import service
from minimaker.publication.tables import PolicyVersion
from minimaker.settings import Settings
from tests.processes import minimaker, process_env
from tests.publication.conftest import NEW_CLAUSE, Reissue

SHIPPED_VERSION = "2025-01-27"


def audit(c: Container, prefix: str = "policy:") -> list[tuple[str, str | None]]:
    with c.uow(write=False) as uow:
        rows = uow.session.execute(
            select(AuditEntry.action, AuditEntry.object)
            .where(AuditEntry.action.startswith(prefix))
            .order_by(AuditEntry.seq)
        )
        return [(a, o) for a, o in rows]


def stored(c: Container) -> list[PolicyVersion]:
    with c.uow(write=False) as uow:
        rows = list(uow.session.scalars(select(PolicyVersion).order_by(PolicyVersion.version)))
        uow.session.expunge_all()
        return rows


def test_start_up_publishes_the_policy_in_force_once_whole_and_audited(
    container: Container,
) -> None:
    startup.prepare(container)
    startup.prepare(container)

    (row,) = stored(container)
    assert (row.version, row.significant) == (SHIPPED_VERSION, False)
    assert row.text == container.policy_doc.text
    assert row.source == container.policy_doc.source
    assert row.changes == container.policy.changes
    assert row.effective == container.policy.effective
    assert audit(container) == [
        ("policy:version:published", f"version:{SHIPPED_VERSION}:minor"),
    ]


def test_an_older_version_stays_readable_after_the_file_changes(
    published: Container, reissue: Reissue
) -> None:
    c2 = reissue(version="2026-03-01", significant=False, changes="Clause 12.1 added.")
    service.publish_if_new(c2)

    old = service.get_version(c2, version=SHIPPED_VERSION)
    new = service.get_version(c2, version="2026-03-01")
    assert old.text == published.policy_doc.text and NEW_CLAUSE not in old.text
    assert NEW_CLAUSE in new.text
    assert old.source == published.policy_doc.source
    assert [v.version for v in service.list_versions(c2)] == ["2026-03-01", SHIPPED_VERSION]


@pytest.mark.parametrize("what", ["text", "yaml"])
def test_a_version_published_with_other_content_is_refused_and_nothing_is_written(
    published: Container, reissue: Reissue, what: str
) -> None:
    # Same version string as the shipped one, but the text (or only the YAML) differs.
    extra = {"text_extra": "12.2. A clause slipped in."} if what == "text" else {"text_extra": ""}
    changes = published.policy.changes if what == "text" else "Something else entirely."
    c2 = reissue(version=SHIPPED_VERSION, significant=False, changes=changes, **extra)
    before = stored(published)

    with pytest.raises(service.VersionRefused, match="new version"):
        service.publish_if_new(c2)
    with pytest.raises(service.VersionRefused):
        startup.prepare(c2)  # the service does not start on it either

    after = stored(published)
    assert [(r.version, r.text, r.source) for r in after] == [
        (r.version, r.text, r.source) for r in before
    ]
    assert ("policy:version:refused", f"version:{SHIPPED_VERSION}") in audit(published)


@pytest.mark.parametrize("version", ["2026 03 01", "../etc", "x" * 65, "-lead", "v1/2", "v1?x=1"])
def test_a_version_string_that_cannot_be_a_key_or_a_url_is_refused(
    published: Container, reissue: Reissue, version: str
) -> None:
    c2 = reissue(version=version, significant=False, changes="Bad name.")
    with pytest.raises(service.VersionRefused, match="letters, digits"):
        service.publish_if_new(c2)
    assert [r.version for r in stored(published)] == [SHIPPED_VERSION]


def test_a_significant_version_supersedes_an_unfinished_notification(
    published: Container, reissue: Reissue
) -> None:
    first = reissue(version="2026-03-01", significant=True, changes="First significant.")
    service.publish_if_new(first)
    second = reissue(version="2026-04-01", significant=True, changes="Second significant.")
    service.publish_if_new(second)
    pending = {r.version: r.notified_at for r in stored(second)}
    assert pending["2026-03-01"] is not None  # one email, the newest, not two
    assert pending["2026-04-01"] is None


def test_the_cli_publishes_says_what_it_did_and_lists_the_history(
    settings: Settings, container: Container, reissue: Reissue
) -> None:
    env = process_env(settings)
    first = minimaker("policy", "publish", env=env)
    assert first.returncode == 0, first.stderr
    assert f"published version {SHIPPED_VERSION} (minor)" in first.stdout
    again = minimaker("policy", "publish", env=env)
    assert "nothing to do" in again.stdout

    c2 = reissue(version="2026-03-01", significant=True, changes="Clause 12.1 added.")
    env2 = process_env(settings, MINIMAKER_POLICY_FILE=str(c2.policy_doc.path))
    done = minimaker("policy", "publish", env=env2)
    assert "published version 2026-03-01 (significant)" in done.stdout
    assert "every user will be emailed" in done.stdout

    listed = minimaker("policy", "list", env=env2).stdout.splitlines()
    assert listed[0].startswith("2026-03-01 *") and "significant" in listed[0]
    assert "Clause 12.1 added." in listed[0]
    assert listed[1].startswith(SHIPPED_VERSION) and "minor" in listed[1]


def test_the_cli_refuses_a_reused_version_with_a_clear_line(
    settings: Settings, published: Container, reissue: Reissue
) -> None:
    c2 = reissue(version=SHIPPED_VERSION, significant=True, changes="Sneaky.")
    env = process_env(settings, MINIMAKER_POLICY_FILE=str(c2.policy_doc.path))
    refused = minimaker("policy", "publish", env=env)
    assert refused.returncode == 2
    assert "give the changed policy a new version" in refused.stderr
    assert "Traceback" not in refused.stderr
