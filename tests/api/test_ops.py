"""`/health`, `/metrics`, body limit, malformed input at the process edge."""

from __future__ import annotations

import re

import httpx

from tests.support.api import unique


def test_health_and_metrics_by_route_template(client, admin_headers, make_workspace) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["success"] is True
    ws = make_workspace()
    for _ in range(3):
        assert client.get(f"/workspace/{ws['id']}", headers=admin_headers).status_code == 200
    text = client.get("/metrics").text
    assert "# HELP tollgate_http_requests_total" in text
    m = re.search(
        r'tollgate_http_requests_total\{method="GET",route="/workspace/\{workspace_id\}",status="200"\} (\d+)', text
    )
    assert m and float(m.group(1)) >= 3
    assert ws["id"] not in text  # raw paths (ids) never become labels
    assert (
        'tollgate_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/workspace/{workspace_id}"}'
        in text
        or 'tollgate_http_request_duration_seconds_bucket{method="GET",route="/workspace/{workspace_id}",le="0.005"}'
        in text
    )


def test_unknown_route_is_404_in_contract_shape_and_bounded_label(client) -> None:
    r = client.get("/no/such/thing-12345")
    assert r.status_code == 404
    assert r.json()["success"] is False
    assert "thing-12345" not in client.get("/metrics").text


def test_oversized_body_is_413_in_contract_shape(client, admin_headers, live_app) -> None:
    limit = live_app.settings.max_body_bytes
    r = client.post(
        "/workspace",
        content=b'{"name":"' + b"a" * (limit + 10) + b'"}',
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json() == {"success": False, "message": f"Request body too large (limit {limit} bytes)"}


def test_oversized_chunked_body_is_413(client, admin_headers, live_app) -> None:
    limit = live_app.settings.max_body_bytes

    def gen():
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = client.post("/workspace", content=gen(), headers={**admin_headers, "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["success"] is False


def test_chunked_body_under_limit_is_replayed(client, admin_headers) -> None:
    def gen():
        yield b'{"name": '
        yield f'"{name}"}}'.encode()

    name = unique("chunked")
    r = client.post("/workspace", content=gen(), headers={**admin_headers, "content-type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["workspace"]["name"] == name


def test_oversized_body_under_v1_uses_openai_error_shape(live_app) -> None:
    limit = live_app.settings.max_body_bytes
    r = httpx.post(
        live_app.url + "/v1/chat/completions", content=b"x" * (limit + 1), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and "too large" in err["message"]


def test_malformed_json_is_400(client, admin_headers) -> None:
    r = client.post("/workspace", content=b'{"name": ', headers={**admin_headers, "content-type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"success": False, "message": "Request body is not valid JSON"}


def test_bad_content_length_is_400(live_app) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", int(live_app.url.rsplit(":", 1)[1])), timeout=5) as s:
        s.sendall(b"POST /user/login HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 400")


def test_gateway_paths_get_bounded_route_labels(live_app) -> None:
    httpx.get(live_app.url + "/v1/models")
    httpx.get(live_app.url + "/v1/no-such-path-777")
    text = httpx.get(live_app.url + "/metrics").text
    assert 'route="/v1/models"' in text and 'route="/v1/*"' in text
    assert "no-such-path-777" not in text
