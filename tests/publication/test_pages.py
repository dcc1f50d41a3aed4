"""The readable policy shows its history with links to older texts; the acknowledgement step
refuses what is not the version in force, and a forged form, writing nothing."""

from __future__ import annotations

from html import escape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from minimaker.entrypoints.worker import Worker
from minimaker.kernel.container import Container
from minimaker.publication import service
from minimaker.publication.tables import PolicyAcknowledgement
from tests.browser import form_token, log_in, sign_up
from tests.publication.conftest import NEW_CLAUSE, Reissue, browser_for

SHIPPED_VERSION = "2025-01-27"
NEW = "2026-03-01"


def acknowledged(c: Container) -> int:
    with c.uow(write=False) as uow:
        query = select(func.count()).where(PolicyAcknowledgement.acknowledged_at.is_not(None))
        return int(uow.session.scalar(query) or 0)


def test_the_policy_page_shows_each_version_its_date_kind_and_changes_with_links(
    published: Container, reissue: Reissue
) -> None:
    c2 = reissue(version=NEW, significant=True, changes="Clause 12.1 added: email notice.")
    service.publish_if_new(c2)
    with browser_for(c2) as browser:
        html = browser.get("/privacy-policy").text
    assert '<h2 id="history-heading">History of this policy</h2>' in html
    assert f'<a href="/privacy-policy/versions/{NEW}">Version {NEW}</a> (in force)' in html
    assert f'<a href="/privacy-policy/versions/{SHIPPED_VERSION}">' in html
    assert "a significant change, told to every user" in html
    assert "a minor change" in html
    assert escape("Clause 12.1 added: email notice.", quote=False) in html
    assert escape(published.policy.changes, quote=False) in html
    assert escape(NEW_CLAUSE, quote=False) in html  # the text in force is the new one


def test_an_older_version_page_shows_its_own_text_and_points_to_the_one_in_force(
    published: Container, reissue: Reissue
) -> None:
    c2 = reissue(version=NEW, significant=False, changes="Clause 12.1 added.")
    service.publish_if_new(c2)
    with browser_for(c2) as browser:
        page = browser.get(f"/privacy-policy/versions/{SHIPPED_VERSION}")
    assert page.status_code == 200
    assert "This is an earlier version" in page.text
    assert escape(NEW_CLAUSE, quote=False) not in page.text
    assert "<h2>6. Data Subject Rights</h2>" in page.text
    assert f'href="/api/v1/privacy/policy/versions/{SHIPPED_VERSION}"' in page.text


@pytest.mark.parametrize(
    ("version", "status"), [("2024-01-01", 404), ("a%20b", 422), ("x" * 65, 422)]
)
def test_an_unknown_or_malformed_version_page_is_a_clear_4xx_page(
    client: TestClient, published: Container, version: str, status: int
) -> None:
    r = client.get(f"/privacy-policy/versions/{version}")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")


@pytest.fixture
def owing(client: TestClient, published: Container, reissue: Reissue) -> Container:
    """Ada, who signed up under the shipped policy, owes the significant version NEW."""
    assert sign_up(client).status_code == 303
    c2 = reissue(version=NEW, significant=True, changes="Significant.")
    service.publish_if_new(c2)
    Worker(c2).run_until_idle()
    return c2


@pytest.mark.parametrize("version", [SHIPPED_VERSION, "", "x" * 5000, "2099-01-01"])
def test_the_step_refuses_any_version_but_the_one_in_force_and_still_asks(
    owing: Container, version: str
) -> None:
    with browser_for(owing) as browser:
        assert log_in(browser).status_code == 303
        token = form_token(browser, "/privacy-policy/acknowledge")
        r = browser.post(
            "/privacy-policy/acknowledge",
            data={"csrf": token, "version": version},
            follow_redirects=False,
        )
        assert r.status_code == 409
        assert "read it again" in r.text
        assert acknowledged(owing) == 0
        assert browser.get("/app", follow_redirects=False).status_code == 303


def test_a_forged_acknowledgement_without_the_form_token_is_refused(owing: Container) -> None:
    with browser_for(owing) as browser:
        assert log_in(browser).status_code == 303
        r = browser.post(
            "/privacy-policy/acknowledge", data={"version": NEW}, follow_redirects=False
        )
        assert r.status_code == 403
        assert acknowledged(owing) == 0


def test_the_step_needs_a_signed_in_user_and_sends_one_who_owes_nothing_home(
    client: TestClient, published: Container
) -> None:
    r = client.get("/privacy-policy/acknowledge", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    assert sign_up(client).status_code == 303 and log_in(client).status_code == 303
    r = client.get("/privacy-policy/acknowledge", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/app")
