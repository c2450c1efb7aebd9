"""AWS event-stream binary framing: a small encoder (botocore only ships the parser).

Frame: total length (u32) | headers length (u32) | prelude CRC32 | headers | payload | message CRC32.
Header: name length (u8) | name | type (7 = string) | value length (u16) | value.
Pure functions; round-trip tested against `botocore.eventstream.EventStreamBuffer`.
"""

from __future__ import annotations

import struct
from binascii import crc32

STRING_TYPE = 7


def encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        nb, vb = name.encode("utf-8"), value.encode("utf-8")
        out += bytes([len(nb)]) + nb + bytes([STRING_TYPE]) + struct.pack(">H", len(vb)) + vb
    return bytes(out)


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One complete event-stream message."""
    hb = encode_headers(headers)
    prelude = struct.pack(">II", 12 + len(hb) + len(payload) + 4, len(hb))
    head = prelude + struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    msg = head + hb + payload
    return msg + struct.pack(">I", crc32(msg) & 0xFFFFFFFF)


def event_frame(event_type: str, payload: bytes) -> bytes:
    """A Bedrock-style `event` message with a JSON payload."""
    return encode_frame(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload
    )


def exception_frame(exception_type: str, payload: bytes) -> bytes:
    """A Bedrock-style in-stream `exception` message (e.g. throttlingException)."""
    return encode_frame(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}, payload
    )
