"""The privacy centre speaks plainly: no article numbers, setting names or snake_case in the
sentences a person reads on its pages, and every legal reference still there, in the pages'
`legal-ref` notes."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from minimaker.entrypoints.worker import Worker
from minimaker.rights.plain_words import plain
from tests.browser import form_token, signed_in, upload
from tests.conftest import photo_bytes

JARGON = {
    "article number": re.compile(r"\bArt\.?\s*\d|\bArticle \d|\bGDPR\b"),
    "setting name": re.compile(r"\bMINIMAKER_[A-Z0-9_]*|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"),
    "snake_case": re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b"),
    "policy section": re.compile(r"\bpolicy \d"),
}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class _Reading(HTMLParser):
    """The text a person reads, and apart from it the text of the `legal-ref` notes."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[str] = []
        self.legal: list[str] = []
        self.stack: list[bool] = []  # per open element: inside a legal note (or script)?

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        inside = bool(self.stack and self.stack[-1])
        self.stack.append(inside or "legal-ref" in classes or tag in ("script", "style"))

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        (self.legal if self.stack and self.stack[-1] else self.read).append(data)


def reading(page: str) -> tuple[str, str]:
    parser = _Reading()
    parser.feed(page)
    return " ".join(" ".join(parser.read).split()), " ".join(" ".join(parser.legal).split())


def jargon_in(text: str) -> dict[str, list[str]]:
    found = {kind: pattern.findall(text) for kind, pattern in JARGON.items()}
    return {kind: hits for kind, hits in found.items() if hits}


@pytest.fixture
def pages(client: TestClient, worker: Worker) -> dict[str, str]:
    """Each page of the centre, for someone with a photo, consent asked and a request made."""
    signed_in(client)
    upload(client, photo_bytes())
    data = {"csrf": form_token(client, "/privacy"), "type": "access"}
    assert client.post("/privacy/requests", data=data, follow_redirects=False).status_code == 303
    worker.run_until_idle()
    centre = client.get("/privacy").text
    (request_id,) = re.findall(r'href="/privacy/requests/([0-9a-f]{32})"', centre)
    shown = {
        "centre": centre,
        "request": client.get(f"/privacy/requests/{request_id}").text,
        "delete": client.get("/privacy/delete").text,
    }
    data = {"csrf": form_token(client, "/privacy"), "action": "restrict"}
    assert client.post("/privacy/restriction", data=data, follow_redirects=False).status_code == 303
    shown["restricting"] = client.get("/privacy").text
    worker.run_until_idle()
    shown["restricted"] = client.get("/privacy").text
    return shown


def test_no_page_of_the_centre_puts_the_law_or_a_setting_in_its_sentences(
    pages: dict[str, str],
) -> None:
    for name, page in pages.items():
        read, _ = reading(page)
        assert "Ada Lovelace" in read or name in ("request", "delete")  # read, data and all
        assert jargon_in(read) == {}, name


def test_the_legal_references_stay_in_the_notes_of_each_page(pages: dict[str, str]) -> None:
    _, centre = reading(pages["centre"])
    for reference in ("Art. 15", "Art. 16", "Art. 17", "Art. 18", "Art. 20", "Art. 21"):
        assert reference in centre, reference
    assert "Art. 6(1)(b) GDPR (contract)" in centre  # each purpose's lawful basis, cited
    assert "Art. 5(2), 24, 32 GDPR" in centre  # taken out of the policy's own sentences
    assert "MINIMAKER_ARCHIVE_TTL_DAYS" in centre and "policy 9.2" in centre
    assert "Art. 12(3)" in reading(pages["request"])[1]
    assert "Art. 17" in reading(pages["delete"])[1]
    assert pages["centre"].count('<details class="legal-ref">') >= 8


def test_a_reference_put_back_in_a_sentence_is_found() -> None:
    page = "<p>A copy of everything we hold (Art. 15).</p><p class=legal-ref>Art. 20</p>"
    assert jargon_in(reading(page)[0]) == {"article number": ["Art. 1"]}
    assert jargon_in("Kept 7 days (MINIMAKER_ARCHIVE_TTL_DAYS)") == {
        "setting name": ["MINIMAKER_ARCHIVE_TTL_DAYS"]
    }
    assert jargon_in("see retention_days") == {"snake_case": ["retention_days"]}


def test_plain_moves_each_bracketed_reference_out_and_keeps_other_asides() -> None:
    found = plain("To secure it (Art. 5(2), 24, 32 GDPR); kept (the terms of service) 7 days.")
    assert found.text == "To secure it; kept (the terms of service) 7 days."
    assert found.references == ("Art. 5(2), 24, 32 GDPR",)
    assert plain("7 days (MINIMAKER_ARCHIVE_TTL_DAYS), then deleted.").text == (
        "7 days, then deleted."
    )
    assert plain("No reference here.").references == ()
