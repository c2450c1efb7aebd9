"""Suite-wide secret scan: every secret a test creates must never show up anywhere.

Use from any test:

    from tests.support.secrets import register_secret
    register_secret(provider_secret)          # right after creating it

What is scanned (for every registered secret, as a plain substring):
- every HTTP response body received through the shared clients (`client`/`aclient`
  fixtures, `tests.support.live.scanning_client()`), via `capture_text()`;
- every log record of the process (a root handler at DEBUG installed by the conftest),
  message + exception text;
- anything else a test hands to `capture_text(text, where)` (subprocess output, SSE text...).

Texts are checked against the secrets known when they arrive, and kept in a bounded window
(`WINDOW_BYTES`, newest kept) so a secret registered a moment after it leaked is still found.
A repository API key secret (`tg_...`) may appear once, in the POST response that created it
(the contract shows it there only); any other occurrence is a leak.
`tests/test_secret_scan.py` (moved to the very end of the run) fails on any leak; the conftest
also fails the session at the end if hits exist and that test did not run.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from dataclasses import dataclass, field

WINDOW_BYTES = 256 * 1024 * 1024
MIN_SECRET_LEN = 8  # shorter strings would match by accident


@dataclass
class Hit:
    where: str
    secret_hint: str  # never the secret itself: first 3 chars + length
    secret_no: int = field(default=0, repr=False)  # which registered secret (registration order)


SHOWN_ONCE_PREFIX = "tg_"  # repository API key secrets (store.apikeys.PREFIX): shown at creation


@dataclass
class SecretRegistry:
    secrets: dict[str, int] = field(default_factory=dict, repr=False)  # secret -> number
    shown_once: set[int] = field(default_factory=set, repr=False)
    hits: list[Hit] = field(default_factory=list)
    _texts: deque = field(default_factory=deque, repr=False)  # (where, text)
    _bytes: int = field(default=0, repr=False)
    texts_seen: int = 0
    # Re-entrant: a GC finalizer (e.g. an unclosed client's __del__) may log while we hold it.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @staticmethod
    def _hint(secret: str) -> str:
        return f"{secret[:3]}…(len {len(secret)})"

    def register(self, secret: str | None, shown_once: bool | None = None) -> None:
        """Add a secret; everything captured so far (within the window) is checked for it.

        `shown_once`: the secret may appear in exactly one HTTP POST response, the one that
        created it (the contract shows repository API key secrets once). Default: True for
        repository key secrets (prefix `tg_`), False otherwise.
        """
        if not secret or len(secret) < MIN_SECRET_LEN:
            if secret:
                raise ValueError(f"secrets shorter than {MIN_SECRET_LEN} chars cannot be scanned reliably")
            return
        if shown_once is None:
            shown_once = secret.startswith(SHOWN_ONCE_PREFIX)
        with self._lock:
            if secret in self.secrets:
                return
            no = len(self.secrets) + 1
            self.secrets[secret] = no
            if shown_once:
                self.shown_once.add(no)
            for where, text in list(self._texts):
                if secret in text:
                    self.hits.append(Hit(where, self._hint(secret), no))

    def capture(self, text: str | bytes | None, where: str) -> None:
        """Check `text` against every known secret and keep it for later registrations."""
        if not text:
            return
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        with self._lock:
            self.texts_seen += 1
            for secret, no in self.secrets.items():
                if secret in text:
                    self.hits.append(Hit(where, self._hint(secret), no))
            self._texts.append((where, text))
            self._bytes += len(text)
            while self._bytes > WINDOW_BYTES and self._texts:
                _, old = self._texts.popleft()
                self._bytes -= len(old)

    def leaks(self) -> list[Hit]:
        """Hits minus the one allowed creation response of each shown-once secret."""
        allowed_used: set[int] = set()
        out = []
        for h in self.hits:
            if h.secret_no in self.shown_once and h.secret_no not in allowed_used and h.where.startswith("HTTP POST "):
                allowed_used.add(h.secret_no)
                continue
            out.append(h)
        return out

    def report(self) -> str:
        return "\n".join(f"secret {h.secret_hint} found in {h.where}" for h in self.leaks())


class CaptureLogHandler(logging.Handler):
    """Root handler: hands every record's text (message, exception, stack) to the registry."""

    def __init__(self, registry: SecretRegistry):
        super().__init__(level=logging.DEBUG)
        self.registry = registry

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [record.getMessage()]
        except Exception:  # noqa: BLE001 - a bad format string is still scanned raw
            parts = [str(record.msg), repr(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}")
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        self.registry.capture("\n".join(parts), f"log {record.name}")


# One registry per test session, even if this module is imported under two names
# (`tests.support.secrets` and `support.secrets`).
_twin = sys.modules.get("tests.support.secrets") or sys.modules.get("support.secrets")
REGISTRY: SecretRegistry = getattr(_twin, "REGISTRY", None) or SecretRegistry()


def register_secret(secret: str | None, shown_once: bool | None = None) -> None:
    """Register a provider secret / repo key secret / password the scan must never find
    (repo key secrets, `tg_...`, are allowed once: in the response that created them)."""
    REGISTRY.register(secret, shown_once)


register = register_secret


def capture_text(text: str | bytes | None, where: str) -> None:
    REGISTRY.capture(text, where)


def install_log_capture(level: int = logging.DEBUG) -> CaptureLogHandler:
    """Attach the capture handler to the root logger and open it to `level` (idempotent)."""
    root = logging.getLogger()
    for h in root.handlers:
        if isinstance(h, CaptureLogHandler) and h.registry is REGISTRY:
            return h
    handler = CaptureLogHandler(REGISTRY)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
