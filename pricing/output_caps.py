"""The most output tokens a model can produce in one response (its published output cap). Pure.

The price table (`genai-prices`) carries prices and the context window but no output cap, so the
caps of the common families are kept here. A budget reserves a request's worst case before it is
forwarded; without `max_tokens` the worst case is the model's cap (see `output_cap` in
`producers.policy.budget_gate`), so a reservation neither undercounts a long answer nor holds a
flat guess.

Sources (the providers' model pages, as published in 2025):
- OpenAI, platform "Models" pages: gpt-4o / chatgpt-4o-latest / gpt-4o-mini 16,384 (the first
  gpt-4o snapshot, 2024-05-13, 4,096); gpt-4.1 / -mini / -nano 32,768; o1 100,000, o1-mini 65,536,
  o1-preview 32,768; o3 / o3-mini / o3-pro / o4-mini 100,000; gpt-5 / -mini / -nano 128,000;
  gpt-4.5-preview 16,384; gpt-4-turbo 4,096; gpt-4 8,192; gpt-3.5-turbo 4,096.
- Anthropic, "Models overview" (also on Bedrock and Vertex): Claude 3 Haiku / Sonnet / Opus 4,096;
  Claude 3.5 Sonnet and Haiku 8,192; Claude 3.7 Sonnet 64,000 (128,000 only with the
  `output-128k` beta header); Claude Sonnet 4 / 4.5 and Haiku 4.5 64,000; Opus 4 / 4.1 32,000;
  Opus 4.5 64,000.
- Google, Gemini API "Models": gemini-1.5-pro / -flash / -flash-8b 8,192; gemini-2.0-flash /
  -flash-lite 8,192; gemini-2.5-pro / -flash / -flash-lite 65,536.

Bedrock ids are matched by their bare model name: `us.anthropic.claude-3-7-sonnet-20250219-v1:0`
is looked up as `claude-3-7-sonnet-20250219`. Patterns are tried in order (the more specific
first); a model none matches has no known cap (the caller uses the configured default).
"""

from __future__ import annotations

import re

# (prefix of the bare, lower-cased model name, output cap); first match wins.
CAPS: tuple[tuple[str, int], ...] = (
    # OpenAI
    ("gpt-4o-2024-05-13", 4_096),
    ("gpt-4o-mini", 16_384),
    ("gpt-4o", 16_384),
    ("chatgpt-4o", 16_384),
    ("gpt-4.1", 32_768),
    ("gpt-5", 128_000),
    ("o1-mini", 65_536),
    ("o1-preview", 32_768),
    ("o1", 100_000),
    ("o3", 100_000),
    ("o4-mini", 100_000),
    ("gpt-4.5", 16_384),
    ("gpt-4-turbo", 4_096),
    ("gpt-4", 8_192),
    ("gpt-3.5-turbo", 4_096),
    # Anthropic (direct, Bedrock, Vertex)
    ("claude-3-haiku", 4_096),
    ("claude-3-sonnet", 4_096),
    ("claude-3-opus", 4_096),
    ("claude-3-5-", 8_192),
    ("claude-3.5-", 8_192),
    ("claude-3-7-sonnet", 64_000),
    ("claude-3.7-sonnet", 64_000),
    ("claude-opus-4-5", 64_000),
    ("claude-opus-4", 32_000),
    ("claude-sonnet-4", 64_000),
    ("claude-haiku-4", 64_000),
    # Google
    ("gemini-1.5-", 8_192),
    ("gemini-2.0-", 8_192),
    ("gemini-2.5-", 65_536),
)

_BEDROCK = re.compile(r"^(?:(?:us|eu|apac|us-gov|global|jp|au)\.)?(?:anthropic|google|openai)\.")
_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_MEMO_MAX = 4096
_memo: dict[str, int | None] = {}


def bare_name(model: str) -> str:
    """`openai/gpt-4o` -> `gpt-4o`; `us.anthropic.claude-3-7-sonnet-20250219-v1:0` ->
    `claude-3-7-sonnet-20250219`; `models/gemini-2.0-flash` -> `gemini-2.0-flash`."""
    m = model.strip().lower()
    if "/" in m:
        m = m.rsplit("/", 1)[1]
    m = _BEDROCK.sub("", m)
    return _VERSION.sub("", m)


def max_output_tokens(model: str) -> int | None:
    """The published output cap of `model`, None when its family is not in the table."""
    hit = _memo.get(model, -1)
    if hit != -1:
        return hit
    name = bare_name(model)
    found = next((cap for prefix, cap in CAPS if name.startswith(prefix)), None)
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    _memo[model] = found
    return found
