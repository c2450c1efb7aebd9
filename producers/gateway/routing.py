"""Model name -> ordered candidate (config, provider model) pairs. Pure; never blocks.

Accepted forms (documented in the README's gateway section):

* `provider/model` where provider is an alias of the config's type:
  `openai/` (OPENAI), `anthropic/` (ANTHROPIC), `google/` or `gemini/` (GOOGLE),
  `bedrock/` or `aws/` (AWS), `other/` (OTHER) -> every repository config of that type,
  in fallback order, is a candidate (the client chose the provider explicitly).
* `<config name>/model` (case-insensitive) -> that one configuration of the repository.
* a bare model name -> every repository config that serves it, in fallback order: listed in
  the config's cached model list, or (list unknown or not containing it) claimed by the
  family's naming rules (`serves`, e.g. `gpt-*` OPENAI, `claude-*` ANTHROPIC).
* a prefix that matches neither (e.g. `meta-llama/Llama-3-8B` on an OpenAI-compatible
  server) is treated as a bare name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from schemas.enums import PROVIDER_ALIASES
from store.snapshot import ConfigEntry, RepoEntry

Candidate = tuple[ConfigEntry, str]


def resolve(
    repo: RepoEntry,
    model: str,
    known_models: Callable[[ConfigEntry], frozenset[str] | None],
    serves: Callable[[str, str], bool],
) -> list[Candidate]:
    """Candidates in fallback order; empty means 404 (no configuration serves the model)."""
    configs = repo.configs
    if "/" in model:
        prefix, rest = model.split("/", 1)
        if rest:
            low = prefix.lower()
            named = [c for c in configs if c.name.lower() == low]
            if named:
                return [(c, rest) for c in named]
            ai_type = PROVIDER_ALIASES.get(low)
            if ai_type is not None:
                return [(c, rest) for c in configs if c.ai_type == ai_type]
    out: list[Candidate] = []
    for c in configs:
        listed = known_models(c)
        if (listed is not None and model in listed) or serves(c.ai_type, model):
            out.append((c, model))
    return out


def union_models(lists: Iterable[Iterable[str]]) -> list[str]:
    """Model ids across configs, first occurrence wins, order kept."""
    seen: dict[str, None] = {}
    for lst in lists:
        for m in lst:
            seen.setdefault(m, None)
    return list(seen)
