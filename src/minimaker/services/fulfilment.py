"""Loads every module that registers a fulfiller, so the job handler knows them all."""

from __future__ import annotations

import importlib

from minimaker.domain.requests import RequestType
from minimaker.services.rights import FULFILLERS

MODULES = (
    "minimaker.services.subject_rights",  # rectification, restriction, objection
    "minimaker.services.archives",  # access, portability
    "minimaker.services.erasure",  # erasure
)


def load() -> None:
    """Import the fulfiller modules (each registers itself on import)."""
    for name in MODULES:
        importlib.import_module(name)


def missing() -> list[str]:
    """Request types that no loaded module fulfils (a test keeps this empty)."""
    load()
    return [t.value for t in RequestType if t not in FULFILLERS]
