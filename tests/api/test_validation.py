"""Provider validation: request building (pure), verdicts (pure), and the real HTTP call
against a local stand-in provider, a closed port and a server that never answers."""

from __future__ import annotations

import time

import httpx
import pytest

from api.validation import ProviderTarget, build_request, interpret
from api.validation import validate as _validate
from core.endpoints import EndpointGuard
from fakeupstream.common import Credentials
from schemas.enums import AiType
from tests.api.config_env import HtmlServer, SilentServer, closed_port, provider  # noqa: F401
from tests.support.secrets import register_secret

SECRET = "sk-test-DO-NOT-LEAK-0123456789"
AWS_KEY, AWS_SECRET = "AKIAEXAMPLEPURE00001", "pureSecretAccessKey/0123456789abcdef"
register_secret(SECRET)
register_secret(AWS_SECRET)
LOOPBACK = EndpointGuard("127.0.0.0/8")  # the stand-in providers listen on 127.0.0.1


async def validate(target, timeout_s, **kw):
    """The real validation, allowed to reach loopback (as the suite's settings allow)."""
    kw.setdefault("guard", LOOPBACK)
    return await _validate(target, timeout_s, **kw)


# ---- pure parts -------------------------------------------------------------------------------


def test_build_request_per_family():
    url, h = build_request(ProviderTarget(AiType.OPENAI, "https://api.openai.com/v1/", SECRET))
    assert url == "https://api.openai.com/v1/models" and h["authorization"] == f"Bearer {SECRET}"
    url, h = build_request(ProviderTarget(AiType.OTHER, "http://127.0.0.1:9/v1", SECRET))
    assert url == "http://127.0.0.1:9/v1/models" and h["authorization"] == f"Bearer {SECRET}"
    url, h = build_request(ProviderTarget(AiType.ANTHROPIC, "https://api.anthropic.com", SECRET))
    assert url == "https://api.anthropic.com/v1/models"
    assert h["x-api-key"] == SECRET and h["anthropic-version"] == "2023-06-01" and "authorization" not in h
    url, h = build_request(ProviderTarget(AiType.GOOGLE, "https://generativelanguage.googleapis.com", SECRET))
    assert url == "https://generativelanguage.googleapis.com/v1beta/models" and h["x-goog-api-key"] == SECRET
    assert SECRET not in url  # the key travels in a header, never in the URL


def test_build_request_bedrock_sigv4():
    t = ProviderTarget(AiType.AWS, "", AWS_SECRET, key=AWS_KEY, region="eu-west-1")
    url, h = build_request(t)
    assert url == "https://bedrock.eu-west-1.amazonaws.com/foundation-models"
    auth = h["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={AWS_KEY}/")
    assert "/eu-west-1/bedrock/aws4_request" in auth and "Signature=" in auth
    assert AWS_SECRET not in auth and "X-Amz-Date" in h


@pytest.mark.parametrize(
    "ai_type,status,body,ok,needle",
    [
        (AiType.OPENAI, 200, b'{"object":"list","data":[{"id":"a"},{"id":"b"}]}', True, "2 models"),
        (AiType.GOOGLE, 200, b'{"models":[{"name":"models/x"}]}', True, "1 models"),
        (AiType.AWS, 200, b'{"modelSummaries":[]}', True, "0 models"),
        (
            AiType.OPENAI,
            401,
            b'{"error":{"message":"Incorrect API key provided: sk-test-DO-NOT-LEAK"}}',
            False,
            "rejected the credentials",
        ),
        (AiType.AWS, 403, b"{}", False, "access key id"),
        (AiType.ANTHROPIC, 404, b"", False, "https://api.anthropic.com"),
        (AiType.OPENAI, 429, b"", False, "rate-limited"),
        (AiType.OPENAI, 500, b"oops", False, "unexpected HTTP status 500"),
        (AiType.OPENAI, 200, b"<html>", False, "not JSON"),
        (AiType.GOOGLE, 200, b'{"data":[]}', False, "not a model list"),
    ],
)
def test_interpret(ai_type, status, body, ok, needle):
    r = interpret(ai_type, status, body)
    assert r.ok is ok and needle in r.message
    assert "DO-NOT-LEAK" not in r.message


async def test_validate_never_raises_on_bad_header_characters():
    r = await validate(ProviderTarget(AiType.OPENAI, "http://127.0.0.1:9", "bad\nsecret-0123456789"), 1.0)
    assert r.ok is False and "bad" not in r.message


async def test_validate_with_mock_transport_sends_expected_headers():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        seen["url"] = str(request.url)
        return httpx.Response(200, json={"data": [{"id": "m"}]})

    r = await validate(
        ProviderTarget(AiType.ANTHROPIC, "https://anthropic.test", SECRET), 2.0, transport=httpx.MockTransport(handler)
    )
    assert r.ok and seen["url"] == "https://anthropic.test/v1/models"
    assert seen["x-api-key"] == SECRET and seen["anthropic-version"] == "2023-06-01"


# ---- the real HTTP call -----------------------------------------------------------------------


def _targets(base: str, good: bool, creds=None) -> list[ProviderTarget]:
    wrong = "-wrong-0123456789"
    c = creds
    return [
        ProviderTarget(AiType.OPENAI, f"{base}/v1", c.openai_key if good else "sk-openai" + wrong),
        ProviderTarget(AiType.OTHER, f"{base}/v1/", c.openai_key if good else "sk-other" + wrong),
        ProviderTarget(AiType.ANTHROPIC, base, c.anthropic_key if good else "sk-ant" + wrong),
        ProviderTarget(AiType.GOOGLE, base, c.google_key if good else "AIza" + wrong),
        ProviderTarget(
            AiType.AWS, base, c.aws_secret_key if good else "aws" + wrong, key=c.aws_access_key_id, region="us-east-1"
        ),
    ]


async def test_each_family_valid_against_local_provider(provider):
    for t in _targets(provider.url, good=True, creds=provider.creds):
        r = await validate(t, 5.0)
        assert r.ok, (t.ai_type, r.message)
        assert "models" in r.message


async def test_each_family_wrong_credentials(provider):
    for t in _targets(provider.url, good=False, creds=provider.creds):
        r = await validate(t, 5.0)
        assert r.ok is False, t.ai_type
        # Gemini answers a bad key with 400 API_KEY_INVALID; the others with 401/403.
        assert "rejected the credentials" in r.message, (t.ai_type, r.message)
        assert t.secret not in r.message and "wrong" not in r.message


async def test_aws_wrong_access_key_id(provider):
    t = ProviderTarget(
        AiType.AWS, provider.url, provider.creds.aws_secret_key, key="AKIAOTHERKEY0000000", region="us-east-1"
    )
    r = await validate(t, 5.0)
    assert r.ok is False and "access key id" in r.message


async def test_unreachable_each_family():
    base = f"http://127.0.0.1:{closed_port()}"
    for t in _targets(base, good=True, creds=Credentials()):
        r = await validate(t, 3.0)
        assert r.ok is False and "not reachable" in r.message, r.message
        assert base in r.message


async def test_dns_failure():
    r = await validate(ProviderTarget(AiType.OPENAI, "http://no-such-host.invalid/v1", SECRET), 3.0)
    assert r.ok is False and "not reachable" in r.message, r.message


async def test_timeout_each_family_is_bounded():
    async with SilentServer() as silent:
        base = f"http://127.0.0.1:{silent.port}"
        for t in _targets(base, good=True, creds=Credentials()):
            t0 = time.monotonic()
            r = await validate(t, 0.5)
            took = time.monotonic() - t0
            assert r.ok is False and "no answer within 0.5 s" in r.message, r.message
            assert took < 3.0


async def test_non_json_and_unexpected_status(provider):
    async with HtmlServer() as html:
        r = await validate(ProviderTarget(AiType.OTHER, f"http://127.0.0.1:{html.port}/v1", SECRET), 5.0)
    assert r.ok is False and "not JSON" in r.message
    provider.control.fail(503, family="openai")
    r = await validate(ProviderTarget(AiType.OPENAI, f"{provider.url}/v1", provider.creds.openai_key), 5.0)
    assert r.ok is False and "unexpected HTTP status 503" in r.message
    provider.control.fail(429, family="anthropic")
    r = await validate(ProviderTarget(AiType.ANTHROPIC, provider.url, provider.creds.anthropic_key), 5.0)
    assert r.ok is False and "429" in r.message
    r = await validate(ProviderTarget(AiType.OPENAI, f"{provider.url}/nowhere", provider.creds.openai_key), 5.0)
    assert r.ok is False and "404" in r.message and "/v1" in r.message
    provider.control.reset()


async def test_slow_provider_hits_the_timeout(provider):
    provider.control.hang(3.0, family="google")
    try:
        r = await validate(ProviderTarget(AiType.GOOGLE, provider.url, provider.creds.google_key), 0.5)
        assert r.ok is False and "no answer within 0.5 s" in r.message
    finally:
        provider.control.reset()
