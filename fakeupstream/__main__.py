"""`python -m fakeupstream --port N [--workers W]`: serve the fake in the foreground (benchmarks).

Credentials are the defaults of `fakeupstream.common.Credentials` unless overridden by env
(FAKE_OPENAI_KEY, FAKE_ANTHROPIC_KEY, FAKE_GOOGLE_KEY, FAKE_AWS_ACCESS_KEY_ID, FAKE_AWS_SECRET_KEY).
With --workers > 1 each worker has its own `/_control` state: use one worker for fault tests.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from .app import build_app
from .common import Credentials


def app_from_env():
    """Factory used by uvicorn workers."""
    d = Credentials()
    creds = Credentials(
        openai_key=os.environ.get("FAKE_OPENAI_KEY", d.openai_key),
        anthropic_key=os.environ.get("FAKE_ANTHROPIC_KEY", d.anthropic_key),
        google_key=os.environ.get("FAKE_GOOGLE_KEY", d.google_key),
        aws_access_key_id=os.environ.get("FAKE_AWS_ACCESS_KEY_ID", d.aws_access_key_id),
        aws_secret_key=os.environ.get("FAKE_AWS_SECRET_KEY", d.aws_secret_key),
    )
    return build_app(creds)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m fakeupstream")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args()
    if a.host != "127.0.0.1":
        raise SystemExit("the fake upstream only listens on 127.0.0.1")
    uvicorn.run(
        "fakeupstream.__main__:app_from_env",
        factory=True,
        host=a.host,
        port=a.port,
        workers=a.workers,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
