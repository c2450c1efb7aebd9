"""The composition root: component order, start-up failure, process kinds, live fixtures."""

from __future__ import annotations

import httpx
import pytest

from tests.support.live import start_live_app

pytestmark = pytest.mark.integration  # child processes / real services


class Recorder:
    def __init__(self, name: str, log: list[str], fail: bool = False):
        self.name = name
        self.log = log
        self.fail = fail

    async def start(self) -> None:
        if self.fail:
            raise RuntimeError("cannot start: password owner-password-1 rejected")
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_components_start_in_order_and_stop_in_reverse(tmp_path) -> None:
    events: list[str] = []

    def configure(rt) -> None:
        rt.add(Recorder("a", events))
        rt.add(Recorder("b", events))

    with start_live_app(tmp_path, configure=[configure]) as live:
        assert events == ["start a", "start b"]
        assert live.runtime.ready
        assert live.call(lambda rt: _role(rt)) == "up"
    assert events == ["start a", "start b", "stop b", "stop a"]


async def _role(rt) -> str:
    return rt.role


def test_failed_start_stops_what_started_and_hides_secrets(tmp_path, caplog) -> None:
    events: list[str] = []

    def configure(rt) -> None:
        rt.add(Recorder("ok", events))
        rt.add(Recorder("broken", events, fail=True))

    with pytest.raises(RuntimeError, match="failed to start"):
        with start_live_app(tmp_path, configure=[configure], start_timeout=30):
            pass
    assert events == ["start ok", "stop ok"]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "start-up failed" in messages and "owner-password-1" not in messages


def test_gateway_process_serves_health_and_metrics_but_no_management_api(live_app_factory) -> None:
    live = live_app_factory(kind="gateway")
    assert httpx.get(live.url + "/health").json()["role"] == "gateway"
    assert httpx.get(live.url + "/metrics").status_code == 200
    r = httpx.post(live.url + "/user/login", json={"email": "a@b.test", "password": "x"})
    assert r.status_code == 404 and r.json()["success"] is False


def test_api_process_has_no_gateway(live_app_factory) -> None:
    live = live_app_factory(kind="api")
    assert httpx.get(live.url + "/health").json()["role"] == "api"
    assert live.runtime.gateway is None
    assert httpx.get(live.url + "/v1/models").status_code == 404
    r = httpx.post(live.url + "/user/login", json={"email": live.admin_email, "password": live.admin_password})
    assert r.status_code == 200


def test_live_app_runs_on_each_backend(live_app, db_backend) -> None:
    dialect = live_app.runtime.engine.dialect.name
    assert dialect == ("postgresql" if db_backend == "postgres" else "sqlite")
