"""The four model-listing calls and each family's credential check, over real HTTP."""

from __future__ import annotations

import datetime as dt
import logging

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as AwsCreds


def sigv4_headers(
    url: str, key: str, secret: str, region: str = "us-east-1", method: str = "GET", body: bytes = b""
) -> dict[str, str]:
    req = AWSRequest(method=method, url=url, data=body, headers={"content-type": "application/json"} if body else {})
    SigV4Auth(AwsCreds(key, secret), "bedrock", region).add_auth(req)
    return dict(req.headers.items())


def test_openai_models_ok_and_bad_key(upstream):
    c = upstream.creds
    r = httpx.get(upstream.url + "/v1/models", headers={"Authorization": f"Bearer {c.openai_key}"})
    assert r.status_code == 200
    ids = [m["id"] for m in r.json()["data"]]
    assert ids == ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
    assert r.json()["object"] == "list"
    bad = httpx.get(upstream.url + "/v1/models", headers={"Authorization": "Bearer sk-wrong"})
    assert bad.status_code == 401
    err = bad.json()["error"]
    assert err["code"] == "invalid_api_key" and err["type"] == "invalid_request_error"
    assert err["param"] is None and "Incorrect API key provided" in err["message"]
    assert "sk-wrong" not in bad.text
    missing = httpx.get(upstream.url + "/v1/models")
    assert missing.status_code == 401
    assert upstream.control.count("/v1/models") == 3


def test_anthropic_models_ok_bad_key_missing_version(upstream):
    c = upstream.creds
    h = {"x-api-key": c.anthropic_key, "anthropic-version": "2023-06-01"}
    r = httpx.get(upstream.url + "/v1/models", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert [m["id"] for m in body["data"]] == ["claude-sonnet-4-20250514", "claude-3-5-haiku-20241022"]
    assert body["data"][0]["type"] == "model" and body["has_more"] is False
    bad = httpx.get(upstream.url + "/v1/models", headers=dict(h, **{"x-api-key": "nope"}))
    assert bad.status_code == 401
    assert bad.json() == {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
    nover = httpx.get(upstream.url + "/v1/models", headers={"x-api-key": c.anthropic_key})
    assert nover.status_code == 400
    assert nover.json()["error"]["type"] == "invalid_request_error"
    assert upstream.control.count(family="anthropic") == 3


def test_google_models_ok_bad_key(upstream):
    c = upstream.creds
    r = httpx.get(upstream.url + "/v1beta/models", headers={"x-goog-api-key": c.google_key})
    assert r.status_code == 200
    assert [m["name"] for m in r.json()["models"]] == ["models/gemini-2.0-flash", "models/text-embedding-004"]
    # Gemini also takes the key in the query; httpx logs request URLs at INFO, so keep that
    # line (which would hold the key) out of the logs the secret scan reads.
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    httpx_log.setLevel(logging.WARNING)
    try:
        q = httpx.get(upstream.url + "/v1beta/models", params={"key": c.google_key})
    finally:
        httpx_log.setLevel(level)
    assert q.status_code == 200
    bad = httpx.get(upstream.url + "/v1beta/models", headers={"x-goog-api-key": "AIzaWrong"})
    assert bad.status_code == 400
    err = bad.json()["error"]
    assert err["status"] == "INVALID_ARGUMENT" and err["code"] == 400
    assert err["message"] == "API key not valid. Please pass a valid API key."
    assert err["details"][0]["reason"] == "API_KEY_INVALID"
    assert httpx.get(upstream.url + "/v1beta/models").status_code == 403


def test_bedrock_list_foundation_models_sigv4(upstream):
    c = upstream.creds
    url = upstream.url + "/foundation-models"
    r = httpx.get(url, headers=sigv4_headers(url, c.aws_access_key_id, c.aws_secret_key))
    assert r.status_code == 200, r.text
    ids = [m["modelId"] for m in r.json()["modelSummaries"]]
    assert "anthropic.claude-3-haiku-20240307-v1:0" in ids and "amazon.titan-embed-text-v2:0" in ids
    wrong_id = httpx.get(url, headers=sigv4_headers(url, "AKIAWRONG", c.aws_secret_key))
    assert wrong_id.status_code == 403
    assert wrong_id.headers["x-amzn-ErrorType"].startswith("UnrecognizedClientException")
    wrong_secret = httpx.get(url, headers=sigv4_headers(url, c.aws_access_key_id, "not-the-secret"))
    assert wrong_secret.status_code == 403
    assert wrong_secret.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException")
    assert "signature we calculated does not match" in wrong_secret.json()["message"]
    unsigned = httpx.get(url)
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")


def test_bedrock_rejects_tampered_and_stale_requests(upstream):
    c = upstream.creds
    url = upstream.url + "/foundation-models"
    h = sigv4_headers(url, c.aws_access_key_id, c.aws_secret_key)
    # same signature, different query: must not verify
    r = httpx.get(url + "?byProvider=Amazon", headers=h)
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException")
    # signed 20 minutes ago
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    req = AWSRequest(method="GET", url=url, headers={"X-Amz-Date": old})
    s = SigV4Auth(AwsCreds(c.aws_access_key_id, c.aws_secret_key), "bedrock", "us-east-1")
    req.context["timestamp"] = old
    sig = s.signature(s.string_to_sign(req, s.canonical_request(req)), req)
    s._inject_signature_to_request(req, sig)
    stale = httpx.get(url, headers=dict(req.headers.items()))
    assert stale.status_code == 403
    assert "Signature expired" in stale.json()["message"]
