"""Published output caps of the common model families, matched by bare model name. Pure."""

import pytest

from pricing.output_caps import bare_name, max_output_tokens


@pytest.mark.parametrize(
    "model,cap",
    [
        ("gpt-4o", 16_384),
        ("gpt-4o-2024-08-06", 16_384),
        ("gpt-4o-2024-05-13", 4_096),
        ("openai/gpt-4o-mini", 16_384),
        ("gpt-4.1-nano", 32_768),
        ("gpt-4.5-preview", 16_384),
        ("o1", 100_000),
        ("o1-mini", 65_536),
        ("o3-mini-2025-01-31", 100_000),
        ("o4-mini", 100_000),
        ("gpt-5-mini", 128_000),
        ("gpt-4-turbo", 4_096),
        ("gpt-3.5-turbo-0125", 4_096),
        ("claude-3-haiku-20240307", 4_096),
        ("claude-3-5-haiku-20241022", 8_192),
        ("claude-3-5-sonnet-latest", 8_192),
        ("claude-3-7-sonnet-20250219", 64_000),
        ("claude-sonnet-4-20250514", 64_000),
        ("claude-opus-4-1-20250805", 32_000),
        ("claude-opus-4-5", 64_000),
        ("anthropic.claude-3-haiku-20240307-v1:0", 4_096),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 64_000),
        ("eu.anthropic.claude-sonnet-4-20250514-v1:0", 64_000),
        ("gemini-1.5-pro-002", 8_192),
        ("models/gemini-2.0-flash", 8_192),
        ("gemini-2.5-flash", 65_536),
        ("GEMINI-2.5-PRO", 65_536),
    ],
)
def test_published_caps(model: str, cap: int) -> None:
    assert max_output_tokens(model) == cap


@pytest.mark.parametrize("model", ["my-llama-70b", "meta.llama3-8b-instruct-v1:0", "", "text-embedding-3-small"])
def test_unknown_families_have_no_cap(model: str) -> None:
    assert max_output_tokens(model) is None


def test_bare_name() -> None:
    assert bare_name("us.anthropic.claude-3-7-sonnet-20250219-v1:0") == "claude-3-7-sonnet-20250219"
    assert bare_name("openai/gpt-4o") == "gpt-4o" and bare_name(" Gemini-2.0-Flash ") == "gemini-2.0-flash"


def test_price_overrides_carry_an_output_cap() -> None:
    from pricing.overrides import PriceOverrides, parse_overrides

    stored = parse_overrides(
        {
            "house-*": {"input": "1", "output": "2", "maxOutputTokens": 8000},
            "tiny-*": {"input": "1", "output": "2", "maxOutputTokens": "512"},
            "*": {"input": "3", "output": "4"},
        }
    )
    assert stored["house-*"]["maxOutputTokens"] == "8000" and stored["tiny-*"]["maxOutputTokens"] == "512"
    assert "maxOutputTokens" not in stored["*"]  # stored as given: absent when not set
    ov = PriceOverrides(stored)
    assert ov.max_output("House-7b") == 8000 and ov.max_output("tiny-1") == 512
    assert ov.max_output("other") is None and ov.rates("other") is not None  # first match wins


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "12k", "", 10**8])
def test_bad_output_caps_are_refused_naming_the_field(bad) -> None:
    from pricing.overrides import parse_overrides

    with pytest.raises(ValueError, match=r"prices\.m\*\.maxOutputTokens"):
        parse_overrides({"m*": {"input": "1", "output": "2", "maxOutputTokens": bad}})
