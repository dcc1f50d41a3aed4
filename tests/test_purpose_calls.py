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
    _dotted,
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


# --- Every use case that processes a subject's data asks the gate itself ------------------

#: The calls that ask rights/processing.py before processing (the gate).
GATES = frozenset({"ensure_allowed", "allowed"})
TESTS = Path(__file__).resolve().parent

#: The use cases that process a subject's data and ask the gate themselves, each with the
#: test (under tests/) that shows it refused, audited, writing nothing: deleting a gate fails
#: here with the function's name, and there with the use case's. The list is kept true from
#: both sides: every function found asking the gate must be listed (a new gated use case
#: comes with its test), and every function that opens a subject's data key or decrypts
#: their blobs must ask, be reached only from functions that ask, or be in NOT_GATED.
_CASES = "rights/test_purpose_use_cases.py::test_"
GATED: dict[tuple[str, str], str] = {
    ("uploads/service.py", "create_upload"): _CASES
    + "create_upload_is_refused_and_stores_no_photo",
    ("uploads/service.py", "list_uploads"): _CASES + "list_uploads_is_refused",
    ("uploads/service.py", "get_upload"): _CASES + "get_upload_is_refused",
    ("uploads/service.py", "open_content"): _CASES
    + "open_content_is_refused_and_no_read_is_recorded",
    ("generation/service.py", "request_model"): _CASES
    + "request_model_is_refused_while_restricted_and_queues_nothing",
    ("generation/service.py", "_load_for_generation"): _CASES
    + "load_for_generation_refuses_a_job_queued_before_the_restriction",
    ("generation/service.py", "_store_generation"): "rights/test_api.py::"
    "test_an_objection_to_analytics_stops_usage_events_at_once",
    ("generation/service.py", "list_models"): _CASES + "list_models_is_refused",
    ("generation/service.py", "get_model"): _CASES + "get_model_is_refused",
    ("generation/service.py", "open_model_content"): _CASES
    + "open_model_content_is_refused_and_no_read_is_recorded",
    ("generation/previews.py", "model_preview"): "generation/test_previews.py::"
    "test_model_preview_is_refused_and_no_read_is_recorded",
    ("generation/previews.py", "photo_preview"): "generation/test_previews.py::"
    "test_photo_preview_is_refused_while_restricted_and_no_read_is_recorded",
    ("accounts/service.py", "get_profile"): _CASES + "get_profile_is_refused",
    ("accounts/service.py", "own_profile"): _CASES + "own_profile_is_refused",
    ("accounts/service.py", "apply_correction"): _CASES
    + "apply_correction_is_refused_and_the_profile_is_unchanged",
    ("rights/access.py", "build_archive"): _CASES + "build_archive_is_refused_and_makes_no_archive",
    ("rights/access.py", "audited_stream"): _CASES
    + "audited_stream_is_refused_and_no_download_is_recorded",
    ("publication/notify.py", "_tell"): _CASES
    + "tell_skips_a_user_the_policy_does_not_let_the_service_mail",
    ("sharing/service.py", "clear"): "sharing/test_service.py::"
    "test_a_share_for_a_purpose_the_subject_objected_to_is_refused_and_audited",
    ("corpus/service.py", "prepare"): "corpus/test_corpus.py::"
    "test_an_objection_to_training_keeps_everything_of_theirs_out",
    ("corpus/service.py", "wanted"): "retention/test_sweeps.py::"
    "test_a_batch_asks_once_per_subject_whether_a_copy_is_wanted",
    ("corpus/service.py", "stage"): "corpus/test_offer_outside_lock.py::"
    "test_an_objection_between_prepare_and_stage_stages_nothing_and_leaves_no_blob",
}

#: Functions that open a subject's data key or decrypt their blobs without asking, and why
#: that is right. A function reached only from functions that ask needs no entry (derived
#: below); these are reached otherwise, or are processing no subject state may refuse.
_REQUEST = "the subject's own rights request (Art. 12): handled whatever their state (Art. 18(2))"
_EXPORTER = "an access-archive exporter, run only by content.collect after build_archive asks"
_MAIL = "a message already queued by a use case that asked, sealed or opened for delivery"
_CORPUS = "an anonymised corpus copy under the corpus's own key: no subject's data (Recital 26)"
NOT_GATED: dict[tuple[str, str], str] = {
    ("rights/intake.py", "seal_details"): _REQUEST,
    ("rights/intake.py", "open_sealed"): _REQUEST,
    ("rights/recording.py", "_for_subject"): _REQUEST + ", recorded by the officer",
    ("rights/decisions.py", "complete"): _REQUEST + ", completed by the officer",
    ("accounts/export.py", "profile"): _EXPORTER,
    ("uploads/export.py", "photos"): _EXPORTER,
    ("mail/folder.py", "seal"): _MAIL,
    ("mail/folder.py", "open"): _MAIL,
    ("accounts/service.py", "email_on_file"): "the address a queued message goes to: " + _MAIL,
    ("accounts/login_failures.py", "forget_subject"): "erasure (Art. 17), which nothing refuses",
    ("corpus/service.py", "_admit"): _CORPUS,
    ("corpus/service.py", "read_item"): _CORPUS,
}

#: The data-key and blob-decrypting API: `keys.subject_key(...)`, `blobs.iter_plain(...)`,
#: `blobs.read_bytes(...)`. A subject's sealed fields open only with that key, so this also
#: finds every `open_field` of their data; the adapters that implement it are not use cases.
_OPENS = frozenset({"subject_key", "iter_plain", "read_bytes"})
_NOT_USE_CASES = ("adapters/", "kernel/")


@dataclass
class _Function:
    """One function of src: where, whether it asks the gate, whether it opens a key."""

    where: tuple[str, str]
    gated: bool = False
    opens: bool = False


def _opens(call: ast.Call) -> bool:
    if not isinstance(call.func, ast.Attribute) or call.func.attr not in _OPENS:
        return False
    owner = _dotted(call.func.value) or ""
    return call.func.attr == "subject_key" or owner.split(".")[-1] == "blobs"


#: One call by name: the name, whether it is bare (`f()`, not `x.f()`), its module, and the
#: innermost function it is made in (None at module level).
_Call = tuple[str, bool, str, "_Function | None"]


def _walk_functions(path: Path, root: Path = SRC) -> tuple[list[_Function], list[_Call]]:
    """The functions of one module, and each call made in it."""
    rel = path.relative_to(root).as_posix()
    functions: list[_Function] = []
    calls: list[_Call] = []

    def visit(node: ast.AST, inside: _Function | None) -> None:
        for child in ast.iter_child_nodes(node):
            here = inside
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                here = _Function((rel, child.name))
                functions.append(here)
            elif isinstance(child, ast.Call) and (name := _called(child)) is not None:
                calls.append((name, isinstance(child.func, ast.Name), rel, inside))
                if inside is not None:
                    inside.gated |= name in GATES
                    inside.opens |= _opens(child)
            visit(child, here)

    visit(ast.parse(path.read_text("utf-8")), None)
    return functions, calls


def covered(
    root: Path = SRC, exempt: frozenset[tuple[str, str]] = frozenset()
) -> tuple[dict[tuple[str, str], _Function], set[tuple[str, str]]]:
    """Every function of src, and those that ask the gate (or are `exempt`) or are called
    only from such functions. Calls resolve by name, a bare one to its own module's function
    when it has one: a name shared with an unguarded call never counts as covered."""
    functions: dict[tuple[str, str], _Function] = {}
    calls: list[_Call] = []
    for path in sorted(root.rglob("*.py")):
        found, made = _walk_functions(path, root)
        functions.update((f.where, f) for f in found)
        calls += made

    def sites(where: tuple[str, str]) -> list[_Function | None]:
        rel, name = where
        return [
            inside
            for called, bare, module, inside in calls
            if called == name and (not bare or module == rel or (module, name) not in functions)
        ]

    done = {w for w, f in functions.items() if f.gated} | set(exempt)
    callers = {w: sites(w) for w in functions}
    grew = True
    while grew:
        grew = False
        for where in functions.keys() - done:
            found = callers[where]
            if found and all(s is not None and s.where in done for s in found):
                done.add(where)
                grew = True
    return functions, done


def test_each_listed_use_case_still_asks_the_gate_and_no_gated_one_is_unlisted() -> None:
    functions, _ = covered()
    missing = [f"{r}::{n}" for (r, n) in GATED if (r, n) not in functions]
    assert not missing, f"listed use cases that no longer exist: {missing}"
    ungated = [f"{r}::{n}" for (r, n) in GATED if not functions[(r, n)].gated]
    assert not ungated, f"these process a subject's data without asking the gate: {ungated}"
    gated = {w for w, f in functions.items() if f.gated} - {("rights/processing.py", "allowed")}
    unlisted = sorted(f"{r}::{n}" for (r, n) in gated - GATED.keys())
    assert not unlisted, f"list each in GATED, with the test of its refusal: {unlisted}"


def test_each_listed_use_case_names_a_test_that_exists() -> None:
    absent = []
    for test in sorted(set(GATED.values())):
        file, name = test.split("::")
        tree = ast.parse((TESTS / file).read_text("utf-8"))
        if name not in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}:
            absent.append(test)
    assert absent == []


def test_every_function_opening_a_subjects_key_asks_is_reached_only_by_one_or_says_why() -> None:
    functions, done = covered(exempt=frozenset(NOT_GATED))
    openers = {w for w, f in functions.items() if f.opens and not w[0].startswith(_NOT_USE_CASES)}
    assert len(openers) >= 15  # the walk found the key's users, not an empty set
    unexplained = sorted(f"{r}::{n}" for (r, n) in openers - done)
    assert not unexplained, f"ask the gate in these, or list them in NOT_GATED: {unexplained}"
    # A stale exemption would excuse a function that now asks (or is reached only from one
    # that does), or that no longer opens anything.
    _, asked = covered()
    stale = sorted(f"{r}::{n}" for (r, n) in NOT_GATED.keys() - (openers - asked))
    assert stale == []


def test_the_coverage_walk_follows_callers_and_refuses_a_shared_name(tmp_path: Path) -> None:
    source = (
        "def gated(uow):\n"
        "    ensure_allowed(uow, 's', Purpose.SERVICE, ('account',))\n"
        "    return helper(uow) + (lambda: inner(uow))()\n"
        "def helper(uow):\n"
        "    return uow.keys.subject_key('s')\n"
        "def inner(uow):\n"
        "    return uow.c.blobs.iter_plain(b'', 'b')\n"
        "def shared(uow):\n"
        "    return uow.keys.subject_key('s')\n"
        "def caller_one(uow):\n"
        "    allowed(uow, 's', Purpose.SERVICE, ('account',))\n"
        "    return shared(uow)\n"
        "def caller_two(uow):\n"
        "    return shared(uow), Path('x').read_bytes()\n"
    )
    (tmp_path / "probe.py").write_text(source, "utf-8")
    # Another module's own `helper`, called bare from an unguarded function: not probe's.
    other = "def helper():\n    return 1\ndef loose():\n    return helper()\n"
    (tmp_path / "other.py").write_text(other, "utf-8")
    functions, done = covered(tmp_path)
    assert {n for (_, n), f in functions.items() if f.opens} == {"helper", "inner", "shared"}
    assert done == {("probe.py", n) for n in ("gated", "helper", "inner", "caller_one")}
    # An exemption covers what it alone reaches.
    _, done = covered(tmp_path, exempt=frozenset({("probe.py", "caller_two")}))
    assert ("probe.py", "shared") in done
