"""Remove a configuration's credentials from text that came from its provider. Pure.

An upstream may quote the credential back (in an error message, a stream's error event, even
an answer); whatever the gateway relays or logs goes through `scrub_*` first. The forms
covered: the value itself, URL-encoded (quote / quote_plus), JSON/unicode escapes, and base64 /
base64url at any byte offset (so also inside HTTP Basic's `user:secret`). Short values (< 8
characters) are not searched for: they would match ordinary text.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from urllib.parse import quote, quote_plus

MARK = "[redacted]"
_MIN_LEN = 8


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend only on `raw`, for each alignment (0-2 bytes before)."""
    out = set()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode()
        core = enc[4 if k else 0 : 4 * ((k + len(raw)) // 3)]
        out |= {core, core.replace("+", "-").replace("/", "_")}
    return out


def _encodings(value: str, user: str | None) -> set[str]:
    raw = value.encode()
    out = {value, quote(value, safe=""), quote_plus(value), quote(value)} | _base64_cores(raw)
    for b in (raw, b":" + raw) + ((user.encode() + b":" + raw,) if user else ()):
        for enc in (base64.b64encode(b).decode(), base64.urlsafe_b64encode(b).decode()):
            out.add(enc)
            out.add(enc.rstrip("="))
    out.add(value.encode("unicode_escape").decode())
    out.add(value.replace("/", "\\/"))  # JSON's optional escaping of "/"
    return {o for o in out if len(o) >= _MIN_LEN}


@lru_cache(maxsize=4096)
def secret_forms(secret: str | None, key: str | None = None) -> tuple[str, ...]:
    """Every form to remove, longest first (so a longer encoding is not half-replaced)."""
    forms: set[str] = set()
    if secret and len(secret) >= _MIN_LEN:
        forms |= _encodings(secret, key)
    if key and len(key) >= _MIN_LEN:
        forms |= _encodings(key, None)
    return tuple(sorted(forms, key=len, reverse=True))


def scrub_text(text: str | None, forms: tuple[str, ...]) -> str | None:
    if not text or not forms:
        return text
    for f in forms:
        if f in text:
            text = text.replace(f, MARK)
    return text


def scrub_bytes(data: bytes, forms: tuple[str, ...]) -> bytes:
    if not data or not forms:
        return data
    for f in forms:
        fb = f.encode()
        if fb in data:
            data = data.replace(fb, MARK.encode())
    return data


def forms_of(cfg) -> tuple[str, ...]:
    """The forms of a configuration's secret and key (a ConfigEntry or anything alike)."""
    return secret_forms(getattr(cfg, "secret", None), getattr(cfg, "key", None))


class StreamScrubber:
    """Scrubs a byte stream chunk by chunk; a chunk's tail that could start a credential is
    held back until the next chunk shows whether it does (so a split value is still caught)."""

    def __init__(self, forms: tuple[str, ...]) -> None:
        self.forms = [f.encode() for f in forms]
        self.carry = b""

    def feed(self, chunk: bytes) -> bytes:
        if not self.forms:
            return chunk
        data = self.carry + chunk
        for f in self.forms:
            if f in data:
                data = data.replace(f, MARK.encode())
        hold = 0
        for f in self.forms:
            tail = data[-(len(f) - 1) :] if len(f) > 1 else b""
            i = tail.find(f[:1])
            while i != -1:
                if f.startswith(tail[i:]):
                    hold = max(hold, len(tail) - i)
                    break
                i = tail.find(f[:1], i + 1)
        self.carry = data[len(data) - hold :] if hold else b""
        return data[: len(data) - hold] if hold else data

    def flush(self) -> bytes:
        tail, self.carry = self.carry, b""
        return tail


class ScrubbedStream:
    """An upstream stream (status, headers, chunks, read_all, close) with credentials removed."""

    def __init__(self, inner, forms: tuple[str, ...]) -> None:
        self._inner = inner
        self._forms = forms
        self.status = inner.status
        self.headers = inner.headers

    async def chunks(self):
        s = StreamScrubber(self._forms)
        async for c in self._inner.chunks():
            out = s.feed(c)
            if out:
                yield out
        tail = s.flush()
        if tail:
            yield tail

    async def read_all(self) -> bytes:
        return scrub_bytes(await self._inner.read_all(), self._forms)

    async def close(self) -> None:
        await self._inner.close()
