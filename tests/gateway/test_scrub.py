"""Credential scrubbing of upstream text (pure): every encoding, every chunk split."""

from __future__ import annotations

import base64
from urllib.parse import quote

from core.scrub import StreamScrubber, scrub_text, secret_forms

SECRET = "sk-scrub-Pure/Value+0123456789"


def test_every_form_is_removed_and_the_rest_kept():
    forms = secret_forms(SECRET)
    leaks = [
        SECRET,
        quote(SECRET, safe=""),
        base64.b64encode(SECRET.encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
        base64.b64encode(b"anyuser:" + SECRET.encode()).decode(),
        SECRET.replace("/", "\\/"),
    ]
    for leak in leaks:
        out = scrub_text(f"Incorrect API key provided: {leak}. See docs.", forms)
        assert leak not in out and SECRET not in out and out.startswith("Incorrect API key provided: ")
    assert scrub_text("nothing to hide", forms) == "nothing to hide"
    assert secret_forms("short") == ()  # too short to tell from ordinary text


def test_a_secret_split_across_chunks_is_still_caught():
    forms = secret_forms(SECRET)
    data = f'data: {{"content": "echo {SECRET} end"}}\n\n'.encode()
    for cut in range(1, len(data)):
        s = StreamScrubber(forms)
        out = s.feed(data[:cut]) + s.feed(data[cut:]) + s.flush()
        assert SECRET.encode() not in out and out.endswith(b' end"}\n\n'), cut
    s = StreamScrubber(forms)
    assert s.feed(b"data: plain\n\n") == b"data: plain\n\n"  # nothing held back without a reason
