"""SSRF guard: which endpoints may be configured and connected to.

Loopback only: refusals of metadata and private ranges are asserted at create time and at
connect time with a stub resolver; nothing is sent anywhere but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from api.validation import ProviderTarget, validate
from core.endpoints import EndpointGuard, EndpointRefused, normalise_host
from producers.adapters.base import UpstreamRequest as ProviderRequest
from producers.gateway.transport import EndpointNotAllowed, make_transport
from schemas.enums import AiType
from tests.api.config_env import env, provider  # noqa: F401
from tests.support.secrets import register_secret

SECRET = "sk-proj-guard-DO-NOT-LEAK-000111"
register_secret(SECRET)


def stub(answers: dict[str, list[str]]):
    """A resolver answering from a table (never touches DNS); counts its calls."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in answers:
            raise OSError("unknown host")
        return answers[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


# ---- pure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host, ip",
    [
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("169.254.169.254.", "169.254.169.254"),
        ("[fd00:ec2::254]", "fd00:ec2::254"),
        ("api.openai.com", None),
    ],
)
def test_disguised_addresses_are_normalised(host, ip):
    assert normalise_host(host)[1] == (ipaddress.ip_address(ip) if ip else None)


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "127.1",
        "0x7f.0.0.1",
        "127.0.0.1",
        "[::1]",
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "100.64.0.1",
        "[fc00::1]",
        "[::ffff:10.0.0.1]",
        "0.0.0.0",
    ],
)
def test_private_and_loopback_refused_by_default(host):
    with pytest.raises(EndpointRefused, match="TOLLGATE_ALLOW_PRIVATE_ENDPOINTS|never allowed"):
        EndpointGuard().check_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "[fd00:ec2::254]",
        "metadata.google.internal",
        "METADATA.google.internal.",
        "[fe80::1]",
        "100.100.100.200",
        "0xa9fea9fe",
    ],
)
def test_metadata_refused_even_when_everything_is_allowed(host):
    with pytest.raises(EndpointRefused, match="never allowed"):
        EndpointGuard("0.0.0.0/0,::/0,metadata.google.internal").check_host(host)


def test_allow_list_admits_only_what_it_lists():
    g = EndpointGuard("127.0.0.0/8, fakeupstream ,10.1.0.0/16")
    for ok in ("127.0.0.1", "127.1", "2130706433", "10.1.2.3"):
        g.check_host(ok)
    for bad in ("10.2.0.1", "[::1]", "192.168.0.1"):
        with pytest.raises(EndpointRefused):
            g.check_host(bad)
    assert g.check_host("8.8.8.8") is not None  # public


async def test_names_are_checked_on_every_resolved_address():
    g = EndpointGuard(
        resolver=stub(
            {
                "mixed.test": ["93.184.216.34", "10.0.0.7"],
                "public.test": ["93.184.216.34"],
                "meta.test": ["169.254.169.254"],
            }
        )
    )
    assert await g.resolve_checked("public.test", 443) == ["93.184.216.34"]
    with pytest.raises(EndpointRefused, match="non-public"):
        await g.resolve_checked("mixed.test", 443)
    with pytest.raises(EndpointRefused, match="never allowed"):
        await g.resolve_checked("meta.test", 443)
    await g.check_url("https://unknown.test/v1")  # not resolvable now: the connect-time check decides


# ---- create / update (400 with a clear message) -----------------------------------------------


@pytest.mark.parametrize(
    "endpoint, needle",
    [
        ("http://169.254.169.254/latest/meta-data", "never allowed"),
        ("http://[fd00:ec2::254]/", "never allowed"),
        ("http://metadata.google.internal/computeMetadata/v1", "never allowed"),
        ("http://10.0.0.1:8080/v1", "TOLLGATE_ALLOW_PRIVATE_ENDPOINTS"),
        ("http://[::1]:9/v1", "TOLLGATE_ALLOW_PRIVATE_ENDPOINTS"),
        ("http://192.168.0.1/v1", "TOLLGATE_ALLOW_PRIVATE_ENDPOINTS"),
        ("ftp://api.openai.com/v1", "http(s)"),
        ("https://api.openai.com/v1#/admin", "query string or fragment"),
        ("https://api.openai.com/v1?x=/admin", "query string or fragment"),
    ],
)
async def test_create_refuses_endpoint(env, endpoint, needle):
    """The suite's server allows 127.0.0.0/8 only; everything else non-public is refused."""
    body = {
        "name": f"ssrf-{abs(hash(endpoint))}",
        "aiType": "OPENAI",
        "endpoint": endpoint,
        "secret": SECRET,
        "workspaceId": env.ws,
    }
    r = await env.client.post("/ai/llm", json=body, headers=env.writer.h)
    assert r.status_code == 400 and needle in r.json()["message"], r.text


async def test_update_refuses_endpoint(env, provider):
    body = {
        "name": "ssrf-update",
        "aiType": "OPENAI",
        "endpoint": f"{provider.url}/v1",
        "secret": SECRET,
        "workspaceId": env.ws,
    }
    r = await env.client.post("/ai/llm", json=body, headers=env.writer.h)
    assert r.status_code == 200, r.text
    cid = r.json()["aiLlmId"]
    r = await env.client.put(
        f"/ai/llm/{cid}", json={"endpoint": "http://169.254.169.254/", "secret": SECRET}, headers=env.writer.h
    )
    assert r.status_code == 400 and "never allowed" in r.json()["message"]


# ---- connect time (DNS rebinding) ---------------------------------------------------------------


async def test_validate_refuses_at_connect_time_with_one_message():
    """A name that resolved to a public address at create time now resolves to metadata /
    private: validate never connects and answers the same "not reachable" as a closed port."""
    answers = {"rebind.test": ["169.254.169.254"], "inside.test": ["10.0.0.5"]}
    guard = EndpointGuard(resolver=stub(answers))
    msgs = []
    for host in ("rebind.test", "inside.test", "nowhere.test"):
        r = await validate(ProviderTarget(AiType.OPENAI, f"http://{host}/v1", SECRET), 2.0, guard=guard)
        assert r.ok is False and "not reachable" in r.message
        msgs.append(r.message.replace(host, "H"))
    assert len(set(msgs)) == 1  # no network map: one message whatever the reason
    r = await validate(ProviderTarget(AiType.OPENAI, "http://2130706433:9/v1", SECRET), 2.0)
    assert r.ok is False and "not reachable" in r.message


async def test_validate_does_not_follow_redirects(provider):
    """An allowed endpoint that redirects elsewhere is not followed."""
    loop = EndpointGuard("127.0.0.0/8")
    server = await asyncio.start_server(_redirect_handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await validate(ProviderTarget(AiType.OPENAI, f"http://127.0.0.1:{port}/v1", SECRET), 3.0, guard=loop)
    finally:
        server.close()
    assert r.ok is False and "redirect" in r.message


async def _redirect_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize("kind", ["h1", "aiohttp", "httpx"])
async def test_gateway_transport_refuses_at_connect_time(kind):
    """The gateway's transport resolves through the guard: rebinding to metadata or private
    space is refused before any connection; a disguised loopback literal too."""
    guard = EndpointGuard(resolver=stub({"rebind.test": ["169.254.169.254"], "inside.test": ["10.9.9.9"]}))
    t = make_transport(kind, connect_timeout=2.0, guard=guard)
    await t.start()
    try:
        for url in (
            "http://rebind.test/v1/models",
            "http://inside.test:8080/v1/models",
            "http://127.1:9/v1/models",
            "http://metadata.google.internal/x",
        ):
            req = ProviderRequest("GET", url, {"authorization": f"Bearer {SECRET}"}, b"")
            with pytest.raises(EndpointNotAllowed) as ei:
                await t.request(req, 2.0)
            assert SECRET not in str(ei.value)
    finally:
        await t.stop()


@pytest.mark.parametrize("kind", ["h1", "aiohttp", "httpx"])
async def test_gateway_transport_does_not_follow_redirects(kind):
    guard = EndpointGuard("127.0.0.0/8")
    server = await asyncio.start_server(_redirect_handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    t = make_transport(kind, connect_timeout=2.0, guard=guard)
    await t.start()
    try:
        resp = await t.request(ProviderRequest("GET", f"http://127.0.0.1:{port}/v1/models", {}, b""), 3.0)
        assert resp.status == 302
    finally:
        await t.stop()
        server.close()
