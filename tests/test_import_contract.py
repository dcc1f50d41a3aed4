"""The import contract, over the whole tree: who may import whom.

- kernel imports no feature, no entry point and not the composition root;
- every feature's `rules.py`, and the pure kernel modules, import only the kernel and the
  standard library (no database, web, crypto or imaging library);
- adapters import no feature and no entry point (the migrations environment aside: it asks
  the composition root for the schema);
- a feature reaches another feature through its services, never its tables, api or pages;
  of the entry points it may use only the HTTP dependencies and the page shell;
- only bootstrap and entrypoints import everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import minimaker

ROOT = Path(minimaker.__file__).parent
FEATURES = (
    "accounts",
    "uploads",
    "generation",
    "mail",
    "staff",
    "rights",
    "operations",
    "sharing",
    "records",
    "publication",
    "retention",
    "analytics",
    "corpus",
    "breach",
    "detection",
)
#: Kernel modules that must stay pure: rules and values, no I/O library at all.
PURE_KERNEL = ("errors", "ids", "clock", "audit", "purposes", "actors", "personal_data")
IO_LIBRARIES = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "cryptography",
    "PIL",
    "numpy",
    "httpx",
    "jinja2",
    "psycopg",
    "argon2",
    "jwt",
    "trimesh",
)
#: What a feature's api.py or pages.py may use of the entry points.
ENTRYPOINT_SHARED = ("minimaker.entrypoints.http", "minimaker.entrypoints.page_shell")
#: What one feature may not import of another: its storage and its delivery.
PRIVATE_ROOMS = ("tables", "api", "pages")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts)
        found.append((name.removesuffix(".__init__"), path))
    return found


def _imports(path: Path, module: str) -> list[str]:
    """Every module `path` imports, relative imports resolved; `from m import x` gives m.x too."""
    names: list[str] = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]
    return names


def _is(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _part(module: str) -> tuple[str, str]:
    """(top-level area, room) of a minimaker module: ('rights', 'erasure'), ('kernel', 'ids')."""
    parts = module.split(".")
    return (parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else "")


def _violations(module: str, path: Path) -> list[str]:
    area, room = _part(module)
    bad: list[str] = []
    for name in _imports(path, module):
        if not _is(name, "minimaker"):
            pure = (area == "kernel" and room in PURE_KERNEL) or room == "rules"
            if pure and any(_is(name, lib) for lib in IO_LIBRARIES):
                bad.append(f"{module} (pure) imports {name}")
            continue
        target_area, target_room = _part(name)
        if area in ("bootstrap", "entrypoints"):
            continue
        if target_area == "bootstrap" and module != "minimaker.adapters.migrations.env":
            bad.append(f"{module} imports the composition root")
        if area in ("kernel", "adapters", "settings", "policy") and target_area in FEATURES:
            bad.append(f"{module} imports the feature {name}")
        if area in ("kernel", "adapters", "settings", "policy") and target_area == "entrypoints":
            bad.append(f"{module} imports the entry point {name}")
        pure = room == "rules" or (area == "kernel" and room in PURE_KERNEL)
        if pure and (target_area != "kernel" or target_room not in PURE_KERNEL):
            bad.append(f"{module} (pure) imports {name}")
        foreign = area in FEATURES and target_area in FEATURES and target_area != area
        if foreign and target_room in PRIVATE_ROOMS:
            bad.append(f"{module} reaches into {name}")
        if area in FEATURES and target_area == "entrypoints":
            shared = any(_is(name, s) for s in ENTRYPOINT_SHARED)
            if not shared or not (room in ("api", "pages") or room.endswith("_pages")):
                bad.append(f"{module} imports the entry point {name}")
    return bad


def test_the_whole_tree_keeps_the_import_contract() -> None:
    modules = _modules()
    assert len(modules) > 60  # the walk really looked at the tree
    offenders = [v for module, path in modules for v in _violations(module, path)]
    assert offenders == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("minimaker.kernel.ids", "from minimaker.rights import erasure", "imports the feature"),
        ("minimaker.kernel.ids", "import sqlalchemy", "(pure) imports sqlalchemy"),
        ("minimaker.rights.rules", "from minimaker.adapters import db", "(pure) imports"),
        ("minimaker.adapters.blobs", "from minimaker.uploads import service", "the feature"),
        ("minimaker.rights.erasure", "from minimaker.uploads.tables import Upload", "reaches"),
        ("minimaker.rights.erasure", "from minimaker.entrypoints import cli", "entry point"),
        ("minimaker.uploads.service", "from minimaker import bootstrap", "composition root"),
    ],
)
def test_each_rule_catches_what_it_forbids(
    tmp_path: Path, module: str, source: str, expected: str
) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source + "\n")
    assert any(expected in v for v in _violations(module, path))


def test_what_the_contract_allows_passes(tmp_path: Path) -> None:
    allowed = {
        "minimaker.rights.erasure": "from minimaker.mail import outbox",
        "minimaker.uploads.api": "from minimaker.entrypoints.http import ContainerDep",
        "minimaker.rights.rules": "from minimaker.kernel.errors import ValidationFailed",
        "minimaker.entrypoints.app": "from minimaker.rights import api",
    }
    for module, source in allowed.items():
        probe = tmp_path / "probe.py"
        probe.write_text(source + "\n")
        assert _violations(module, probe) == [], module
