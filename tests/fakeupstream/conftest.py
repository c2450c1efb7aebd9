"""Fixtures for the fake upstream's own tests (re-exported until the root conftest registers them)."""

from tests.support.upstream import fake_upstream, upstream  # noqa: F401
