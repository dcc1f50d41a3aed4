"""The loopback analytics provider for these tests."""

from tests.provider import provider

__all__ = ["provider"]
