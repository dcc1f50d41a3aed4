"""Every call that processes a subject's data names a declared purpose, literally: an AST walk
over src finds each `ensure_allowed`, `allowed` and `Share(...)` call and checks its
`Purpose.X` and its categories against the shipped policy (DESIGN invariant 3). Relabelling a
call to an undeclared purpose, or to a category its purpose is not declared for, fails here
(tests/test_mutations.py shows it)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from minimaker.kernel.purposes import Purpose
from minimaker.policy import Policy, load_policy
from tests.test_purposes_and_categories import (
    FORWARDERS,
    PURPOSE_CALLS,
    SRC,
    _called,
    _is_member,
    _keyword,
    _py_files,
)


@dataclass(frozen=True)
class Named:
    """One call naming a purpose: where, which, and the categories it says it touches."""

    where: str
    purpose: str | None  # None: not written as Purpose.<member>
    categories: tuple[str, ...] | None  # None: not written as literal strings


def _named_calls(path: Path, root: Path = SRC) -> list[Named]:
    tree = ast.parse(path.read_text("utf-8"))
    constants = _module_constants(tree)
    rel = path.relative_to(root).as_posix()
    found: list[Named] = []
    for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        for call in ast.walk(func):
            if not isinstance(call, ast.Call) or _called(call) not in PURPOSE_CALLS:
                continue
            if (rel, func.name) in FORWARDERS:
                continue
            at_purpose, at_categories = PURPOSE_CALLS[_called(call)]  # type: ignore[index]
            purpose = _argument(call, at_purpose, "purpose")
            categories = _argument(call, at_categories, "categories")
            member = purpose.attr if _is_member(purpose, "Purpose") else None  # type: ignore[union-attr]
            found.append(Named(f"{rel}:{call.lineno}", member, _strings(categories, constants)))
    return found


def _argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    return call.args[index] if len(call.args) > index else _keyword(call, name)


def _module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level `NAME = <expr>` assignments (a constant named once, used at calls)."""
    return {
        t.id: stmt.value
        for stmt in tree.body
        if isinstance(stmt, ast.Assign)
        for t in stmt.targets
        if isinstance(t, ast.Name)
    }


def _strings(node: ast.expr | None, constants: dict[str, ast.expr]) -> tuple[str, ...] | None:
    """The category names a literal (or a module constant, or either branch of an if) holds."""
    if isinstance(node, ast.Name) and node.id in constants:
        return _strings(constants[node.id], {})
    if isinstance(node, ast.IfExp):
        body, orelse = _strings(node.body, constants), _strings(node.orelse, constants)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, (ast.Tuple, ast.List)) and node.elts:
        values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if len(values) == len(node.elts) and all(isinstance(v, str) for v in values):
            return tuple(values)
    return None


def purpose_problem(named: Named, policy: Policy) -> str | None:
    """Why a call's purpose or categories are not what the policy declares; None if they are."""
    if named.purpose is None:
        return "the purpose is not written as Purpose.<member>"
    if named.purpose not in Purpose.__members__:
        return f"Purpose.{named.purpose} is no purpose the code knows"
    purpose = Purpose[named.purpose].value
    declared = policy.purposes.get(purpose)
    if declared is None:
        return f"the policy declares no purpose {purpose}"
    if named.categories is None:
        return "the categories are not written as literal strings"
    outside = sorted(set(named.categories) - set(declared.categories))
    if outside:
        return f"the policy does not declare {', '.join(outside)} for {purpose}"
    return None


def test_every_call_naming_a_purpose_names_a_literal_one_the_policy_declares_for_it() -> None:
    policy = load_policy()
    calls = [n for path in _py_files() for n in _named_calls(path)]
    wrong = [f"{n.where}: {p}" for n in calls if (p := purpose_problem(n, policy))]
    assert wrong == []
    # The walk really found the calls: uploads, generation, models, profile, archives, usage.
    where = {n.where.split(":")[0] for n in calls}
    assert {
        "uploads/service.py",
        "generation/service.py",
        "accounts/service.py",
        "rights/access.py",
    } <= where
    assert len(calls) >= 12


def test_each_forwarder_still_exists_and_forwards() -> None:
    # A stale exemption would hide a new call in a function of the same name.
    for (rel, name), _why in FORWARDERS.items():
        tree = ast.parse((SRC / rel).read_text("utf-8"))
        (func,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name]
        assert any(
            isinstance(c, ast.Call)
            and (_called(c) in PURPOSE_CALLS or _keyword(c, "purpose") is not None)
            for c in ast.walk(func)
        ), rel


def test_purpose_problem_refuses_each_kind_of_relabelling() -> None:
    policy = load_policy()
    ok = Named("x.py:1", "GENERATION", ("uploaded_image", "generated_model"))
    assert purpose_problem(ok, policy) is None
    assert purpose_problem(Named("x.py:1", None, ("account",)), policy)
    assert purpose_problem(Named("x.py:1", "SELLING", ("account",)), policy)
    assert purpose_problem(Named("x.py:1", "SERVICE", None), policy)
    assert "usage_event" in (purpose_problem(Named("x", "SERVICE", ("usage_event",)), policy) or "")
    without = policy.model_copy(
        update={"purposes": {k: v for k, v in policy.purposes.items() if k != "marketing"}}
    )
    assert "no purpose marketing" in (
        purpose_problem(Named("x", "MARKETING", ("generated_model",)), without) or ""
    )


def test_the_call_walk_reads_purposes_and_categories_as_written(tmp_path: Path) -> None:
    source = (
        "CATS = ('account',)\n"
        "def f(uow, sid, p, cats, flag):\n"
        "    ensure_allowed(uow, sid, Purpose.SERVICE, CATS)\n"
        "    ensure_allowed(uow, sid, p, ('account',))\n"
        "    allowed(uow, sid, Purpose.ANALYTICS, cats)\n"
        "    Share('x', Purpose.SERVICE, CATS if flag else ('message',))\n"
    )
    copy = tmp_path / "minimaker"
    copy.mkdir()
    (copy / "probe.py").write_text(source, "utf-8")
    named = [
        Named(n.where.split(":")[-1], n.purpose, n.categories)
        for n in _named_calls(copy / "probe.py", copy)
    ]
    assert named == [
        Named("3", "SERVICE", ("account",)),
        Named("4", None, ("account",)),
        Named("5", "ANALYTICS", None),
        Named("6", "SERVICE", ("account", "message")),
    ]
