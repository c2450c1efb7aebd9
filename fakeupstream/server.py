"""Run the fake with uvicorn on 127.0.0.1 in a background thread (tests) or in the foreground."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from .app import build_app
from .common import Credentials
from .control import Control


class FakeUpstream:
    """A running fake: `.url` (no trailing slash), `.creds`, `.control`, per-family `.endpoints`.

    `start()` blocks until the server accepts connections (at most `timeout` seconds).
    """

    def __init__(
        self,
        creds: Credentials | None = None,
        control: Control | None = None,
        models: dict[str, list[str]] | None = None,
    ) -> None:
        self.creds = creds or Credentials()
        self.control = control or Control()
        self.app = build_app(self.creds, self.control, models)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoints(self) -> dict[str, str]:
        """The `endpoint` value a Tollgate config of each AiType would hold for this fake."""
        return {
            "OPENAI": self.url + "/v1",
            "OTHER": self.url + "/v1",
            "ANTHROPIC": self.url,
            "GOOGLE": self.url,
            "AWS": self.url,
        }

    def start(self, timeout: float = 10.0) -> FakeUpstream:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="critical", lifespan="off", access_log=False, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-upstream", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
