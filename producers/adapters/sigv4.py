"""SigV4 signing for Bedrock calls via botocore, as a pure function of (request, credentials,
region, time): no clock read unless `now` is None, no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .base import UpstreamRequest

SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def sign(
    req: UpstreamRequest,
    access_key: str,
    secret_key: str,
    region: str,
    *,
    now: datetime | None = None,
    service: str = "bedrock",
    session_token: str | None = None,
) -> UpstreamRequest:
    """Return a copy of `req` whose headers carry `X-Amz-Date` and `Authorization` (SigV4).

    Every header already in `req.headers` is signed (plus `host`, from the URL), so send exactly
    these headers. Bedrock's runtime and control plane both use the signing name "bedrock".
    """
    # Imported on first use: processes without an AWS configuration never load botocore.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    when = (now or datetime.now(UTC)).astimezone(UTC)
    aws = AWSRequest(method=req.method, url=req.url, headers=dict(req.headers), data=req.body)
    aws.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
    signer = SigV4Auth(Credentials(access_key, secret_key, session_token), service, region)
    signer._modify_request_before_signing(aws)  # sets X-Amz-Date (and the token header)
    canonical = signer.canonical_request(aws)
    signature = signer.signature(signer.string_to_sign(aws, canonical), aws)
    signer._inject_signature_to_request(aws, signature)
    return UpstreamRequest(req.method, req.url, {k: v for k, v in aws.headers.items()}, req.body)
