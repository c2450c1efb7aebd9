"""Detectors: true positives, false positives, checksums, and linear time on hostile input."""

import time

import pytest

from policy.detectors import (
    DETECTORS,
    detect,
    find_cloud_keys,
    find_credit_cards,
    find_emails,
    find_ibans,
    find_phones,
    iban_mod97_ok,
    luhn_ok,
)


def texts(finder, text):
    return [text[f.start : f.end] for f in finder(text)]


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert luhn_ok("79927398713")
    assert iban_mod97_ok("GB82WEST12345698765432") and not iban_mod97_ok("GB82WEST12345698765433")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("pay with 4111 1111 1111 1111 today", ["4111 1111 1111 1111"]),
        ("4111-1111-1111-1111", ["4111-1111-1111-1111"]),
        ("4111111111111111", ["4111111111111111"]),
        ("amex 3782 822463 10005", ["3782 822463 10005"]),
        ("mc 5500 0000 0000 0004.", ["5500 0000 0000 0004"]),
        ("ref 12 4111 1111 1111 1111", ["4111 1111 1111 1111"]),
        ("two: 4111 1111 1111 1111 5500 0000 0000 0004", ["4111 1111 1111 1111", "5500 0000 0000 0004"]),
    ],
)
def test_cards_found(text, expected):
    assert texts(find_credit_cards, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # Luhn fails
        "0000000000000000",  # Luhn ok, no issuer
        "1234567890123456",
        "order 79927398713",  # Luhn ok, too short
        "41111111111111110000",  # 20 digits
        "4111  1111  1111  1111",  # double separators
        "phone 555-123-4567",
        "ts 1700000000123",
    ],
)
def test_cards_not_found(text):
    assert find_credit_cards(text) == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("mail a.b+c@ex-ample.co.uk.", ["a.b+c@ex-ample.co.uk"]),
        ("<jane_doe@example.com>", ["jane_doe@example.com"]),
        ("x@y.io and z@w.dev", ["x@y.io", "z@w.dev"]),
    ],
)
def test_emails_found(text, expected):
    assert texts(find_emails, text) == expected


@pytest.mark.parametrize("text", ["x@y", "foo@bar.c0m", "@example.com", "user@", "a@-b.com", "version 1.2.3@4"])
def test_emails_not_found(text):
    assert find_emails(text) == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("call +1 (415) 555-2671 now", ["+1 (415) 555-2671"]),
        ("+442079460958", ["+442079460958"]),
        ("(555) 123-4567", ["(555) 123-4567"]),
        ("555.123.4567", ["555.123.4567"]),
        ("1-800-555-0199", ["1-800-555-0199"]),
        ("UK 020 7946 0958", ["020 7946 0958"]),
        ("FR 06 12 34 56 78", ["06 12 34 56 78"]),
    ],
)
def test_phones_found(text, expected):
    assert texts(find_phones, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "5551234567",  # bare digits: ids and timestamps look the same
        "1700000000",
        "192.168.100.200",  # IP address
        "2024-01-15",  # date
        "4111 1111 1111 1111",  # card
        "+0123456789",  # no country code starts with 0
        "v1.2.3",
        "IBAN DE89 3704 0044 0532 0130 00",
    ],
)
def test_phones_not_found(text):
    assert find_phones(text) == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("IBAN DE89 3704 0044 0532 0130 00 end", ["DE89 3704 0044 0532 0130 00"]),
        ("GB82WEST12345698765432", ["GB82WEST12345698765432"]),
        ("gb82 west 1234 5698 7654 32", ["gb82 west 1234 5698 7654 32"]),
        ("FR1420041010050500013M02606", ["FR1420041010050500013M02606"]),
    ],
)
def test_ibans_found(text, expected):
    assert texts(find_ibans, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "GB82WEST12345698765433",  # mod-97 fails
        "DE89370400440532013000X",  # glued to more characters
        "DE89 3704 0044 0532 01",  # too short for DE
        "ZZ89370400440532013000",  # unknown country
    ],
)
def test_ibans_not_found(text):
    assert find_ibans(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "key AKIAIOSFODNN7EXAMPLE here",
        "ASIAY34FZKBOKMUTVV7A",
        "AIzaSyA-1234567890abcdefghijklmnopqrstu",
        "OPENAI_API_KEY=sk-proj-abc123def456ghi789jkl012",
        "sk-ant-api03-Abc123Def456Ghi789Jkl0",
        "ghp_" + "a1" * 18,
    ],
)
def test_cloud_keys_found(text):
    assert len(find_cloud_keys(text)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMPL",  # too short
        "XAKIAIOSFODNN7EXAMPLE",  # glued
        "sk-learn-is-a-great-library",  # words, no digits
        "risk-assessment-2024",
        "AIzaShort",
    ],
)
def test_cloud_keys_not_found(text):
    assert find_cloud_keys(text) == []


def test_detect_reports_offsets_only():
    text = "card 4111 1111 1111 1111 mail a@b.co"
    found = detect(text, ["CREDIT_CARD", "EMAIL"])
    assert {f.detector for f in found} == {"CREDIT_CARD", "EMAIL"}
    assert all(isinstance(f.start, int) and f.end > f.start for f in found)


@pytest.mark.parametrize(
    "unit,tail",
    [
        ("1 ", ""),
        ("1-", ""),
        ("a.", "@"),
        ("a", ""),
        ("+1", ""),
        ("b.", ""),
        (" 1", ""),
        ("(1)", ""),
        ("sk-", ""),
        ("4111 ", ""),
    ],
)
def test_linear_time_on_hostile_input(unit, tail):
    """Four times the input costs about four times the time (a quadratic scan would cost 16x).

    CPU time of the best of three runs, so a busy machine does not decide the outcome."""

    def cost(n: int) -> float:
        text = unit * n + tail
        best = float("inf")
        for _ in range(3):
            t = time.process_time()
            detect(text, DETECTORS)
            best = min(best, time.process_time() - t)
        return max(best, 1e-4)

    small, large = cost(10_000), cost(40_000)
    assert large / small < 9, (small, large)
