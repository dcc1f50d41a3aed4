"""Loads every module that registers a fulfiller, so the job handler knows them all."""

from __future__ import annotations

import importlib

from minimaker.rights.rules import RequestType
from minimaker.rights.service import FULFILLERS

MODULES = (
    "minimaker.rights.subject_rights",  # rectification, restriction, objection
    "minimaker.rights.archives",  # access, portability
    "minimaker.rights.erasure",  # erasure
)


def load() -> None:
    """Import the fulfiller modules (each registers itself on import)."""
    for name in MODULES:
        importlib.import_module(name)


def missing() -> list[str]:
    """Request types that no loaded module fulfils (a test keeps this empty)."""
    load()
    return [t.value for t in RequestType if t not in FULFILLERS]
