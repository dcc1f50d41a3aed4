"""The domain layer is pure: no database, web or crypto library may be imported by it."""

from __future__ import annotations

import ast
from pathlib import Path

import minimaker.domain

FORBIDDEN = (
    "sqlalchemy",
    "fastapi",
    "starlette",
    "cryptography",
    "PIL",
    "httpx",
    "minimaker.store",
)


def test_domain_modules_import_nothing_from_io_layers() -> None:
    root = Path(minimaker.domain.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)
            ]
    assert offenders == []
    assert len(list(root.glob("*.py"))) >= 3  # the walk really looked at the layer
