"""Password guessing is throttled per account and per client address (429 + Retry-After),
and the wait always ends: a real user is never locked out for good."""

from __future__ import annotations

import pytest

from api.throttle import LoginThrottle
from tests.support.api import UserFactory, bearer  # noqa: F401
from tests.support.live import scanning_client
from tests.support.secrets import register_secret


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_guessing_one_account_backs_off_and_recovers():
    clock = Clock()
    t = LoginThrottle(clock=clock)
    for _ in range(4):
        assert t.wait_s("a@x", "1.1.1.1") == 0
        t.failed("a@x", "1.1.1.1")
    t.failed("a@x", "1.1.1.1")
    assert t.wait_s("a@x", "1.1.1.1") >= 1
    waits = []
    for _ in range(60):  # keeps guessing whenever allowed
        clock.t += t.wait_s("a@x", "1.1.1.1")
        t.failed("a@x", "1.1.1.1")
        waits.append(t.wait_s("a@x", "1.1.1.1"))
    assert 256 <= max(waits) <= 15 * 60  # escalates, capped: never forever
    # the owner from another address waits at most the account-wide cap (60 s)
    assert t.wait_s("a@x", "2.2.2.2") <= 60
    clock.t += 15 * 60
    assert t.wait_s("a@x", "1.1.1.1") == 0  # the wait ends by itself


def test_spraying_many_accounts_from_one_address_is_throttled():
    clock = Clock()
    t = LoginThrottle(clock=clock)
    for i in range(20):
        t.failed(f"user{i}@x", "6.6.6.6")
    assert t.wait_s("fresh@x", "6.6.6.6") >= 1
    assert t.wait_s("fresh@x", "7.7.7.7") == 0


def test_success_clears_the_account():
    t = LoginThrottle(clock=Clock())
    for _ in range(3):
        t.failed("b@x", "1.1.1.1")
    t.succeeded("b@x", "1.1.1.1")
    for _ in range(4):
        t.failed("b@x", "1.1.1.1")
    assert t.wait_s("b@x", "1.1.1.1") == 0


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_sixty_wrong_passwords_then_the_right_one_is_refused(live_app_factory, db_backend):
    """Over HTTP (a private API process: the throttle is per process): after a few wrong
    passwords every attempt, the right one included, is a 429 with Retry-After."""
    live = live_app_factory(kind="api")
    register_secret(live.admin_password)
    with scanning_client(live.url) as c:
        statuses = []
        for i in range(60):
            r = c.post("/user/login", json={"email": live.admin_email, "password": f"guess-{i:02d}-wrong"})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) >= 1 and "try again" in r.json()["message"]
        assert statuses[:5] == [401] * 5 and statuses.count(429) >= 50
        r = c.post("/user/login", json={"email": live.admin_email, "password": live.admin_password})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
