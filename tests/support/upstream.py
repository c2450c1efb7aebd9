"""Pytest fixtures for the fake upstream (`fakeupstream`).

`fake_upstream` (session): a running FakeUpstream with `.url`, `.endpoints[AiType]`,
`.creds` (valid per-family credentials: openai_key, anthropic_key, google_key,
aws_access_key_id, aws_secret_key), `.control` (faults, latency, counters).
`upstream` (function): the same instance, with faults/counters reset before and after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakeupstream import FakeUpstream


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def upstream(fake_upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    fake_upstream.control.reset()
    yield fake_upstream
    fake_upstream.control.reset()
