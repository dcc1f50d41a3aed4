"""Fixtures of the operations tests: a real SeaweedFS for the sweep and backups on S3."""

from __future__ import annotations

from tests.seaweed import seaweed  # noqa: F401  # a fixture: one real SeaweedFS per process
