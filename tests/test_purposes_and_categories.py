"""Every processing names a purpose from the policy; every personal row carries a category."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

from fastapi.testclient import TestClient
from sqlalchemy import select

import minimaker
from minimaker.adapters.audit_chain import AuditEntry
from minimaker.bootstrap import personal_data
from minimaker.entrypoints.worker import Worker
from minimaker.kernel.audit import AuditTag
from minimaker.kernel.container import Container
from minimaker.kernel.personal_data import PersonalTable
from minimaker.kernel.purposes import Purpose
from minimaker.policy import load_policy
from tests.conftest import photo_bytes, signup_and_login


def _use_the_product(client: TestClient, worker: Worker) -> None:
    headers = signup_and_login(client)
    up = client.post("/api/v1/uploads", files={"file": ("p.png", photo_bytes())}, headers=headers)
    model = client.post(f"/api/v1/uploads/{up.json()['id']}/models", headers=headers).json()
    worker.run_until_idle()
    client.get(f"/api/v1/models/{model['id']}/content?format=stl", headers=headers)
    client.patch("/api/v1/me", json={"name": "Ada King"}, headers=headers)
    client.post("/api/v1/auth/token", data={"username": "ada", "password": "wrong password"})


def test_every_audit_entry_names_a_purpose_the_policy_declares(
    client: TestClient, worker: Worker, container: Container
) -> None:
    _use_the_product(client, worker)
    purposes = set(load_policy().purposes)
    with container.sessions() as s:
        entries = s.scalars(select(AuditEntry)).all()
    assert len(entries) >= 7
    assert {e.purpose for e in entries} <= purposes
    assert all(e.purpose for e in entries)
    # Actions follow source:object:verb, so the log reads the same everywhere.
    assert all(len(e.action.split(":")) == 3 for e in entries)


def test_every_category_a_declaration_names_is_a_category_of_the_policy() -> None:
    declared = {d.category for d in personal_data().personal}
    assert declared <= set(load_policy().categories)


def test_every_personal_row_carries_its_subject_and_a_policy_category(
    client: TestClient, worker: Worker, container: Container
) -> None:
    _use_the_product(client, worker)
    # Whose row it is is not asserted here: policy 4.2 keeps usage data non-personal, so
    # usage events must not stay linked to the subject (issue 10 makes them anonymous).
    # A table with a category column stores, on each row, the category it is declared with.
    stamped = [d for d in container.personal_data.personal if "category" in columns_of(d)]
    assert {d.name for d in stamped} >= {"users", "uploads", "models", "usage_events"}
    seen = 0
    with container.sessions() as s:
        for d in stamped:
            for row in s.scalars(select(d.table)):
                assert row.category == d.category, d.name
                seen += 1
    assert seen >= 4


def columns_of(d: PersonalTable) -> set[str]:
    return set(d.table.__table__.columns.keys())


# --- Every audit entry's purpose is one the policy declares for what it processes -----------

SRC = Path(minimaker.__file__).resolve().parent
_ALL = frozenset(load_policy().categories)

#: What the processing each audit source records touches, by policy category. A purpose is
#: declared "for" a tag when the policy lists, under that purpose, one of these categories; a
#: new source fails the suite until it is listed here.
CATEGORIES_BY_SOURCE: dict[str, frozenset[str]] = {
    "account": frozenset({"account", "credentials"}),
    "upload": frozenset({"uploaded_image"}),
    "model": frozenset({"generated_model"}),
    "mail": frozenset({"message"}),
    "rights": frozenset({"rights_request", "rights_archive"}),
    "privacy": frozenset({"rights_request"}),  # objections and restrictions, as requests
    "subject": frozenset({"rights_request"}),  # an erasure, recorded by pseudonymous id
    "staff": frozenset({"security_log", "rights_request"}),
    # The store's upkeep (schema, keys, backups, strays, the audit itself) touches everything
    # it holds, but only to serve and secure it: never for an objectable purpose.
    "operations": _ALL - {"usage_event"},
    "backup": frozenset({"security_log"}),
    "audit": frozenset({"security_log"}),
    # Policy versions: who was told (their address, the message) and who acknowledged.
    "policy": frozenset({"account", "message", "security_log"}),
    # Sharing: what processors may receive, the disclosure log, and the refusals' record.
    "sharing": frozenset(c for p in load_policy().processors.values() for c in p.categories)
    | {"rights_request", "security_log"},
    # Retention: sweeps remove what expired (its record: the security log), warns and keeps
    # inactive accounts by mail, files their erasure; holds are recorded in the security log.
    "retention": frozenset({"account", "message", "security_log"}),
    # The training corpus: anonymised copies of photos and models, made as they leave.
    "corpus": frozenset({"uploaded_image", "generated_model"}),
    # Usage aggregates: counts of usage events, published or refused by their budget.
    "analytics": frozenset({"usage_event"}),
    # The breach register: the security log's ids and counts; what staff type is sealed.
    "breach": frozenset({"security_log"}),
    # Breach detection: counts over the audit stream (the security log), alerts by id.
    "detection": frozenset({"security_log"}),
}


def declared_for(source: str, purpose: str) -> bool:
    """Whether the policy declares `purpose` for the categories a tag of `source` touches."""
    touched = CATEGORIES_BY_SOURCE.get(source)
    declared = load_policy().purposes.get(purpose)
    if touched is None or declared is None:
        return False
    if declared.objectable and source == "operations":
        return False
    return bool(touched & set(declared.categories))


def _events_modules() -> list[ModuleType]:
    # By file, not by import guard: a feature whose events module fails to import fails here.
    names = sorted(p.parent.name for p in SRC.glob("*/events.py"))
    assert len(names) >= 7, names
    return [importlib.import_module(f"minimaker.{name}.events") for name in names]


def _tags_of(module: ModuleType) -> list[AuditTag]:
    found: list[AuditTag] = []
    for value in vars(module).values():
        values = value.values() if isinstance(value, dict) else [value]
        found += [v for v in values if isinstance(v, AuditTag)]
    return found


def test_every_declared_tag_names_a_purpose_the_policy_declares_for_what_it_touches() -> None:
    tags = [t for m in _events_modules() for t in _tags_of(m)]
    assert len(tags) > 30
    wrong = [
        f"{t} under {t.purpose}"
        for t in tags
        if not isinstance(t.purpose, Purpose) or not declared_for(t.source, t.purpose.value)
    ]
    assert wrong == []


def test_declared_for_refuses_what_the_policy_does_not_declare() -> None:
    # The rule itself, so the tests above cannot pass by it accepting everything.
    assert declared_for("upload", "service")
    assert not declared_for("upload", "analytics")
    assert not declared_for("rights", "marketing")
    assert not declared_for("operations", "training")
    assert not declared_for("no_such_source", "service")
    assert not declared_for("upload", "advertising")


def _py_files() -> list[Path]:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50
    return files


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_tags_are_made_only_in_events_modules_with_a_purpose_member() -> None:
    wrong: list[str] = []
    for path in _py_files():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and _called(node) == "AuditTag"):
                continue
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            if path.name != "events.py":
                wrong.append(f"{where}: a tag made outside an events module")
                continue
            purpose = node.args[3] if len(node.args) > 3 else _keyword(node, "purpose")
            if not _is_member(purpose, "Purpose"):
                wrong.append(f"{where}: the purpose is not written as Purpose.<member>")
    assert wrong == []


def test_every_purpose_an_audit_call_names_is_declared_for_its_tag() -> None:
    checked = 0
    wrong: list[str] = []
    for path in _py_files():
        for func, call in _audit_calls_naming_a_purpose(ast.parse(path.read_text("utf-8"))):
            problem = _purpose_problem(importlib.import_module(_module_name(path)), func, call)
            checked += 1
            if problem:
                wrong.append(f"{path.relative_to(SRC)}:{call.lineno}: {problem}")
    assert wrong == []
    assert checked >= 3  # generation, and the archive's making and download


def _audit_calls_naming_a_purpose(tree: ast.AST) -> list[tuple[ast.FunctionDef, ast.Call]]:
    return [
        (func, call)
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef)
        for call in ast.walk(func)
        if isinstance(call, ast.Call)
        and _called(call) == "audit"
        and _keyword(call, "purpose") is not None
    ]


def _purpose_problem(module: ModuleType, func: ast.FunctionDef, call: ast.Call) -> str | None:
    """Why the purpose `call` passes to audit is not one the policy declares for its tag."""
    tag = _resolve(module, call.args[0]) if call.args else None
    if not isinstance(tag, AuditTag):
        return "a call that names its purpose must name its tag as events.<TAG>"
    rel = Path(str(module.__file__)).relative_to(SRC).as_posix()
    if (rel, func.name) in FORWARDERS:
        return None
    purposes = _purposes_of(module, func, _keyword(call, "purpose"))
    if not purposes:
        return "the purpose is neither Purpose.<member>, a table of them, nor checked here"
    wrong = [p for p in purposes if not declared_for(tag.source, p.value)]
    if wrong:
        return f"{tag} under {wrong[0]}, which the policy does not declare for it"
    return None


def _purposes_of(module: ModuleType, func: ast.FunctionDef, node: ast.expr | None) -> list[Purpose]:
    """The purposes an audit call's `purpose=` can be: a member, each value of a module-level
    table of members indexed there (`PURPOSE_OF[code]`), or what ensure_allowed checked."""
    if isinstance(node, ast.Subscript):
        table = _resolve(module, node.value)
        values = list(table.values()) if isinstance(table, dict) else []
        return values if values and all(isinstance(v, Purpose) for v in values) else []
    found = _purpose_of(module, func, node)
    return [found] if found is not None else []


def _purpose_of(module: ModuleType, func: ast.FunctionDef, node: ast.expr | None) -> Purpose | None:
    if _is_member(node, "Purpose"):
        value = _resolve(module, node)  # type: ignore[arg-type]
        return value if isinstance(value, Purpose) else None
    if not isinstance(node, ast.Name):
        return None
    # `purpose = ensure_allowed(uow, id, Purpose.X, ...)`: the purpose the call checked.
    for stmt in ast.walk(func):
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)):
            continue
        if [t.id for t in stmt.targets if isinstance(t, ast.Name)] != [node.id]:
            continue
        if _called(stmt.value) == "ensure_allowed" and len(stmt.value.args) > 2:
            value = _resolve(module, stmt.value.args[2])
            return value if isinstance(value, Purpose) else None
    return None


# --- The calls that name a purpose (their checks: test_purpose_calls.py) ----------------

#: The calls that name a purpose and the categories it touches: (purpose arg, categories arg).
PURPOSE_CALLS = {"ensure_allowed": (2, 3), "allowed": (2, 3), "Share": (1, 2)}
#: Calls that pass on a purpose named elsewhere, and where it is named (checked above it).
FORWARDERS = {
    ("sharing/service.py", "clear"): "checks the Share it is given: every Share(...) is checked",
    ("sharing/service.py", "record"): "audits the Share it cleared under the Share's purpose",
}


def _called(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _keyword(call: ast.AST, name: str) -> ast.expr | None:
    keywords = call.keywords if isinstance(call, ast.Call) else []
    return next((k.value for k in keywords if k.arg == name), None)


def _is_member(node: ast.expr | None, enum: str) -> bool:
    return isinstance(node, ast.Attribute) and _dotted(node.value) in {enum, f"purposes.{enum}"}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _resolve(module: ModuleType, node: ast.expr) -> object:
    """The value a dotted name (`events.TAG`, `Purpose.SERVICE`) has in `module`."""
    dotted = _dotted(node)
    if dotted is None:
        return None
    head, *rest = dotted.split(".")
    value: object = vars(module).get(head)
    for part in rest:
        value = getattr(value, part, None)
    return value
