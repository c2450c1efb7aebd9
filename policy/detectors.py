"""Sensitive-data detectors for CONTENT_PATTERN rules: pure, linear-time, no I/O.

Each detector finds candidates with a regex that cannot backtrack catastrophically (every
repetition starts with a distinct delimiter, starts are anchored by look-behinds) and then
confirms them in Python with a checksum or shape test. Findings carry offsets only: callers
must never copy the matched text into events, logs or error messages.

Trade-offs (false positives vs. false negatives), chosen for a gateway that may block:

* CREDIT_CARD: 13-19 digits, single spaces or dashes between groups, Luhn-valid AND a known
  issuer prefix/length (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro).
  Luhn alone passes 1 in 10 random digit strings; the issuer table cuts that sharply. A card
  glued to other digits (no separator) is not found.
* EMAIL: practical RFC 5322 subset (dot-atom local part, hostname labels, alphabetic TLD).
  Quoted local parts and IP-literal domains are not found.
* PHONE: `+` and 8-15 digits (E.164) in any grouping; or, without `+`, 10-11 digits in at
  least two groups (`(555) 123-4567`, `555-123-4567`, `020 7946 0958`, `06 12 34 56 78`).
  A bare run of digits without `+` is NOT a phone (order ids, Unix timestamps), dotted
  quads are not phones (IP addresses), so `5551234567` written without separators is missed,
  and so is a phone glued to other digit groups (`ref 12 555-123-4567`).
* IBAN: country code, 2 check digits, country-specific length (SWIFT registry), ISO 7064
  mod-97 == 1; groups of 4 separated by single spaces are accepted.
* CLOUD_ACCESS_KEY: AWS access key ids (AKIA/ASIA/ABIA/ACCA + 16), Google API keys
  (AIza + 35), OpenAI/Anthropic-style `sk-...` secrets (20+ chars with a digit and a letter),
  GitHub tokens (ghp_/gho_/ghu_/ghs_/ghr_ + 36). AWS *secret* keys (40 base64 chars with no
  prefix) are not detected: they are indistinguishable from hashes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAX_GROUPS_WINDOW = 8  # groups tried when a digit run is longer than one number


@dataclass(frozen=True, slots=True)
class Finding:
    detector: str
    start: int
    end: int


# ---------------------------------------------------------------- checksums


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check over a string of ASCII digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_mod97_ok(iban: str) -> bool:
    """ISO 7064 mod-97-10 over an upper-case IBAN without spaces."""
    rearranged = iban[4:] + iban[:4]
    num = "".join(str(int(c, 36)) for c in rearranged)
    return int(num) % 97 == 1


# ---------------------------------------------------------------- digit runs

_NON_DIGIT = re.compile(r"\D")
_DIGIT_RUN_CARD = re.compile(r"(?<![\d\-])\d+(?:[ \-]\d+)*")
_GROUP_SPLIT = re.compile(r"[ \-]")


def _groups_of(run: str, base: int, splitter: re.Pattern[str]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for m in splitter.finditer(run):
        out.append((base + pos, base + m.start()))
        pos = m.end()
    out.append((base + pos, base + len(run)))
    return out


def _scan_runs(
    text: str,
    run_re: re.Pattern[str],
    splitter: re.Pattern[str],
    ok: Callable[[str, str], bool],
    name: str,
    *,
    windows: bool = True,
    min_digits: int = 13,
    max_digits: int = 19,
) -> list[Finding]:
    """Whole run first; if it fails (and `windows`), left-to-right the longest window of
    whole groups (at most MAX_GROUPS_WINDOW groups, min..max digits) that passes.

    Linear in the text: windows are bounded in size and chosen with prefix sums. Runs shorter
    than `min_digits` characters are skipped unchecked: they hold fewer digits than `ok` and
    every window need (the common case: years, counts, prices in ordinary prose).
    """
    found: list[Finding] = []
    for m in run_re.finditer(text):
        raw = m.group(0)
        if len(raw) < min_digits:
            continue
        if ok(raw, _NON_DIGIT.sub("", raw)):
            found.append(Finding(name, m.start(), m.end()))
            continue
        if not windows:
            continue
        groups = _groups_of(raw, m.start(), splitter)
        n = len(groups)
        if n < 2:
            continue
        i = 0
        while i < n:
            hit = None
            total, sizes = 0, []
            for j in range(i, min(n, i + MAX_GROUPS_WINDOW)):
                total += groups[j][1] - groups[j][0]
                if total > max_digits:
                    break
                sizes.append((j + 1, total))
            for j, total in reversed(sizes):
                if total < min_digits or j - i == n:
                    continue
                s, e = groups[i][0], groups[j - 1][1]
                sub = text[s:e]
                if ok(sub, _NON_DIGIT.sub("", sub)):
                    hit = (j, s, e)
                    break
            if hit:
                found.append(Finding(name, hit[1], hit[2]))
                i = hit[0]
            else:
                i += 1
    return found


# ---------------------------------------------------------------- credit cards


def _card_brand_ok(d: str) -> bool:
    n = len(d)
    p2, p3, p4, p6 = int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    if d[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16  # Mastercard
    if p2 in (34, 37):
        return n == 15  # Amex
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649 or 622126 <= p6 <= 622925:
        return 16 <= n <= 19  # Discover
    if 3528 <= p4 <= 3589:
        return 16 <= n <= 19  # JCB
    if 300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095:
        return 14 <= n <= 19  # Diners
    if p2 == 62:
        return 16 <= n <= 19  # UnionPay
    if p2 == 50 or 56 <= p2 <= 69:
        return 13 <= n <= 19  # Maestro
    return False


def _card_ok(raw: str, digits: str) -> bool:
    if not 13 <= len(digits) <= 19:
        return False
    if "  " in raw or "--" in raw:
        return False
    return _card_brand_ok(digits) and luhn_ok(digits)


# Gates: a fast necessary condition checked before the full scan (a leading `\d` lets the regex
# engine skip to digits in C). A card run holds 13+ digits joined by single spaces/dashes; a phone
# run has 8+ digits, and from its first digit on only digits, spaces, dots, dashes, parentheses.
_CARD_GATE = re.compile(r"\d[\d \-]{12}")
_PHONE_GATE = re.compile(r"\d[\d ().\-]{7}")


def find_credit_cards(text: str) -> list[Finding]:
    if not _CARD_GATE.search(text):
        return []
    return _scan_runs(text, _DIGIT_RUN_CARD, _GROUP_SPLIT, _card_ok, "CREDIT_CARD")


# ---------------------------------------------------------------- e-mail

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])"
    r"[A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*"
    r"@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9\-])"
)


def find_emails(text: str) -> list[Finding]:
    if "@" not in text:  # every match has one; skips the per-position scan of ordinary text
        return []
    return [Finding("EMAIL", m.start(), m.end()) for m in _EMAIL.finditer(text)]


# ---------------------------------------------------------------- phone numbers

_PHONE_RUN = re.compile(
    r"(?<![\w+.\-])"
    r"(?:\+\d{1,3}[ .\-]?)?"
    r"(?:\(\d{1,5}\)[ .\-]?)?"
    r"\d+(?:[ .\-]\d+)*"
    r"(?![\w])"
)
_IPV4ISH = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def _phone_ok(raw: str, digits: str) -> bool:
    raw = raw.strip()
    if raw.startswith("+"):
        return 8 <= len(digits) <= 15 and digits[0] != "0"
    if not 10 <= len(digits) <= 11:
        return False
    groups = [g for g in re.split(r"[ .\-()]+", raw) if g]
    if len(groups) < 2:
        return False  # bare digit run: ids, timestamps
    if _IPV4ISH.fullmatch(raw):
        return False
    first_ok = len(groups[0]) >= 2 or (groups[0] == "1" and len(digits) == 11)
    return first_ok and all(2 <= len(g) <= 5 for g in groups[1:])


def find_phones(text: str) -> list[Finding]:
    if not _PHONE_GATE.search(text):
        return []
    # Whole runs only: a window inside a longer digit run (card, IBAN, account number) is far
    # more often part of that number than a phone.
    return _scan_runs(text, _PHONE_RUN, _GROUP_SPLIT, _phone_ok, "PHONE", windows=False, min_digits=8)


# ---------------------------------------------------------------- IBAN

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BI": 27,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DJ": 27,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FK": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "LY": 25,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MN": 20,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NI": 28,
    "NL": 18,
    "NO": 15,
    "OM": 23,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "RU": 33,
    "SA": 24,
    "SC": 31,
    "SD": 18,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "SO": 23,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
    "YE": 30,
}
_IBAN_CAND = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})((?: ?[A-Za-z0-9]){10,30})")
_IBAN_GATE = re.compile(r"\d\d(?<=[A-Za-z]{2}\d\d)(?: ?[A-Za-z0-9]){10}")  # necessary for _IBAN_CAND


def find_ibans(text: str) -> list[Finding]:
    found: list[Finding] = []
    if not _IBAN_GATE.search(text):
        return found
    for m in _IBAN_CAND.finditer(text):
        cc = m.group(1).upper()
        length = IBAN_LENGTHS.get(cc)
        if length is None:
            continue
        need = length - 4
        body = m.group(3)
        chars: list[str] = []
        pos = 0
        while pos < len(body) and len(chars) < need:
            if body[pos] != " ":
                chars.append(body[pos])
            pos += 1
        if len(chars) < need:
            continue
        end = m.start(3) + pos
        if end < len(text) and text[end].isalnum():
            continue  # glued to a longer token
        iban = cc + m.group(2) + "".join(chars).upper()
        if iban_mod97_ok(iban):
            found.append(Finding("IBAN", m.start(), end))
    return found


# ---------------------------------------------------------------- cloud access keys

_CLOUD = re.compile(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])"
    r"|(?<![A-Za-z0-9_\-])gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9_\-])sk-[A-Za-z0-9_\-]{20,200}(?![A-Za-z0-9_\-])"
)


def _sk_ok(token: str) -> bool:
    body = token[3:]
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body) and body.count("-") <= 4 + len(body) // 16


# Literal text every _CLOUD match contains: when none occurs, the regex cannot match.
_CLOUD_MARKERS = ("AKIA", "ASIA", "ABIA", "ACCA", "AIza", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "sk-")


_CLOUD_MARKER = re.compile("|".join(re.escape(m) for m in _CLOUD_MARKERS))  # one scan for all


def find_cloud_keys(text: str) -> list[Finding]:
    if not _CLOUD_MARKER.search(text):
        return []
    out = []
    for m in _CLOUD.finditer(text):
        tok = m.group(0)
        if tok.startswith("sk-") and not _sk_ok(tok):
            continue
        out.append(Finding("CLOUD_ACCESS_KEY", m.start(), m.end()))
    return out


DETECTORS: dict[str, Callable[[str], list[Finding]]] = {
    "CREDIT_CARD": find_credit_cards,
    "EMAIL": find_emails,
    "PHONE": find_phones,
    "IBAN": find_ibans,
    "CLOUD_ACCESS_KEY": find_cloud_keys,
}


def detect(text: str, names: Iterable[str]) -> list[Finding]:
    """All findings of the named detectors in `text` (CPU-bound, linear in len(text))."""
    out: list[Finding] = []
    for n in names:
        out.extend(DETECTORS[str(getattr(n, "value", n))](text))
    return out
