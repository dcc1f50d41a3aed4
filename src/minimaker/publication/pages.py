"""The readable policy, its history and older versions, and the acknowledgement step that
user pages show once a significant version was told to the user (policy 12)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from minimaker.entrypoints.page_shell.render import render, see_other
from minimaker.entrypoints.page_shell.session import USER, CheckedForm, VisitorDep, text_field
from minimaker.kernel.container import Container
from minimaker.kernel.errors import Forbidden
from minimaker.publication import service
from minimaker.publication.service import VERSION_PATTERN, VersionNotCurrent
from minimaker.publication.tables import VERSION_LENGTH

#: Pages anyone may read, signed in or not: the policy and its history; and the step.
router = APIRouter(include_in_schema=False)

ACKNOWLEDGE_PATH = "/privacy-policy/acknowledge"
Version = Annotated[str, Path(max_length=VERSION_LENGTH, pattern=VERSION_PATTERN)]


class AcknowledgementRequired(Forbidden):
    """A user page met a user who owes an acknowledgement: answered with the step."""

    code = "policy_acknowledgement_required"

    def default_message(self) -> str:
        return "please read and acknowledge the updated data protection policy first"


def _never_waits(path: str) -> bool:
    # Art. 12(2): exercising a right is never made to wait on accepting a new text; the privacy
    # centre (see, download, object, delete) stays open whatever is owed.
    return path == "/privacy" or path.startswith("/privacy/")


def ask_acknowledgement(request: Request, c: Container, user_id: str) -> None:
    """Before a user page: the acknowledgement step instead, while one is owed."""
    if _never_waits(request.url.path) or not service.acknowledgement_owed(c, user_id=user_id):
        return
    # The error renderer answers with the page a route declares for its errors (http.py's
    # errors_as_page): here, the step, by a redirect that any method follows with a GET.
    request.state.error_page = lambda status, message: see_other(ACKNOWLEDGE_PATH)
    raise AcknowledgementRequired()


@dataclass
class PolicySection:
    """One numbered section of the policy text: its heading and its blocks, in order."""

    heading: str
    blocks: list[tuple[str, list[str]]] = field(default_factory=list)  # ("p" | "ul", lines)


_SECTION = re.compile(r"\d+\.\s+\S")  # "6. Data Subject Rights", not "6.1. Access: ..."
_BULLET = "\u2022"


def policy_sections(text: str) -> tuple[list[str], list[PolicySection]]:
    """The policy text as its preamble lines and its sections, each a list of p and ul blocks."""
    preamble: list[str] = []
    sections: list[PolicySection] = []
    for raw in text.splitlines()[1:]:  # the first line is the title: the page's own heading
        line = raw.strip()
        if not line:
            continue
        if _SECTION.match(line):
            sections.append(PolicySection(line))
        elif not sections:
            preamble.append(line)
        elif line.startswith(_BULLET):
            blocks = sections[-1].blocks
            item = line.removeprefix(_BULLET).strip()
            if blocks and blocks[-1][0] == "ul":
                blocks[-1][1].append(item)
            else:
                blocks.append(("ul", [item]))
        else:
            sections[-1].blocks.append(("p", [line]))
    return preamble, sections


@router.get("/privacy-policy")
def policy_page(v: VisitorDep) -> Response:
    """The data protection policy as a page, from the same data as GET /api/v1/privacy/policy,
    with the history of its versions."""
    policy = v.c.policy
    preamble, sections = policy_sections(v.c.policy_doc.text)
    return render(
        v,
        "policy.html",
        title="Data protection policy",
        policy=policy,
        preamble=preamble,
        sections=sections,
        versions=service.list_versions(v.c),
    )


@router.get("/privacy-policy/versions/{version}")
def version_page(v: VisitorDep, version: Version) -> Response:
    """An earlier (or the current) version of the policy, as it was published."""
    found = service.get_version(v.c, version=version)
    preamble, sections = policy_sections(found.text)
    return render(
        v,
        "policy_version.html",
        title=f"Data protection policy, version {found.version}",
        found=found,
        current=v.c.policy.version,
        preamble=preamble,
        sections=sections,
    )


@router.get(ACKNOWLEDGE_PATH)
def acknowledge_form(v: VisitorDep) -> Response:
    """The acknowledgement step: what changed, a link to the text, and a button."""
    user_id = USER.signed_in(v)
    owed = service.owed(v.c, user_id=user_id)
    if not owed:
        return see_other(USER.home)
    return _step(v, owed)


def _step(v: VisitorDep, owed: list[service.VersionRead], *, status: int = 200) -> Response:
    return render(
        v,
        "policy_acknowledge.html",
        title="Our data protection policy has changed",
        status=status,
        policy=v.c.policy,
        owed=owed,
        error=None if status == 200 else "the policy changed again meanwhile; read it again",
    )


@router.post(ACKNOWLEDGE_PATH)
def acknowledge(form: CheckedForm, v: VisitorDep) -> Response:
    """Acknowledge the version in force, then go on to the page the user came for."""
    user_id = USER.signed_in(v)
    try:
        service.acknowledge(v.c, user_id=user_id, version=text_field(form, "version"))
    except VersionNotCurrent as exc:
        return _step(v, service.owed(v.c, user_id=user_id), status=exc.status)
    return see_other(USER.home)
