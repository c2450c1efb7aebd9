"""Policy contracts: the optional machine-checkable `rule` object and the /policy API models.

`rule` is a discriminated union on `type` (contract: Policies). Validation is strict
(unknown fields, bools-as-ints and numeric strings are refused) and every problem is reported
as `rule.<field>: <what is wrong>` through `RuleError`, which the API turns into a 400.

Choices documented here because gateways and consumers rely on them:

* MODEL_ALLOWLIST / MODEL_DENYLIST entries are case-insensitive shell globs (`*`, `?` only;
  `gpt-4o*` matches `gpt-4o-mini`). An entry is compared with the model as the client asked
  (`openai/gpt-4o`), with its bare name after the first `/` (`gpt-4o`), and with the
  provider model when known.
* CONTENT_PATTERN regexes use the `regex` package (Python syntax), are compiled here (so a
  broken pattern is a 400, not a runtime failure), are capped in size and count, and are run
  with a per-pattern timeout by the evaluator. A timeout counts as a match (fail closed), so
  an input crafted to make a pattern slow cannot slip past a content rule.
* Limits (TOKEN_BUDGET, RATE_LIMIT) are counted in fixed windows aligned to UTC (MONTH is a
  calendar month); `per` picks the subject the counter belongs to.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum
from dataclasses import dataclass
from typing import Annotated, Any, Iterable, Literal, Mapping, Union

import regex
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

MAX_LIMIT = 10**15               # 64-bit safe with room for sums
MAX_MODELS = 500
MAX_MODEL_LEN = 200
MAX_PATTERNS = 50
MAX_PATTERN_LEN = 1000


class Period(str, Enum):
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"
    MONTH = "MONTH"


class Window(str, Enum):
    SECOND = "SECOND"
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"


class Per(str, Enum):
    KEY = "KEY"
    REPO = "REPO"
    WORKSPACE = "WORKSPACE"


class Detector(str, Enum):
    CREDIT_CARD = "CREDIT_CARD"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    IBAN = "IBAN"
    CLOUD_ACCESS_KEY = "CLOUD_ACCESS_KEY"


class RuleError(ValueError):
    """A rule (or policy body) is invalid; `message` names the field, e.g. `rule.limit: ...`."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


PositiveInt = Annotated[StrictInt, Field(gt=0, le=MAX_LIMIT)]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TokenBudgetRule(_Rule):
    type: Literal["TOKEN_BUDGET"]
    limit: PositiveInt
    period: Period
    per: Per = Per.KEY


class RateLimitRule(_Rule):
    type: Literal["RATE_LIMIT"]
    requests: PositiveInt | None = None
    tokens: PositiveInt | None = None
    window: Window
    per: Per = Per.KEY

    @model_validator(mode="after")
    def _one_limit(self) -> "RateLimitRule":
        if self.requests is None and self.tokens is None:
            raise ValueError("requests: at least one of requests or tokens must be set")
        return self


def _check_models(v: list[str]) -> list[str]:
    if not v:
        raise ValueError("must list at least one model")
    if len(v) > MAX_MODELS:
        raise ValueError(f"at most {MAX_MODELS} models")
    out = []
    for m in v:
        m = m.strip()
        if not m or len(m) > MAX_MODEL_LEN:
            raise ValueError(f"each model must be 1..{MAX_MODEL_LEN} characters")
        out.append(m)
    return out


class ModelAllowlistRule(_Rule):
    type: Literal["MODEL_ALLOWLIST"]
    models: list[StrictStr]

    _v = field_validator("models")(_check_models)


class ModelDenylistRule(_Rule):
    type: Literal["MODEL_DENYLIST"]
    models: list[StrictStr]

    _v = field_validator("models")(_check_models)


class ContentPatternRule(_Rule):
    type: Literal["CONTENT_PATTERN"]
    patterns: list[StrictStr] = Field(default_factory=list)
    detectors: list[Detector] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compile(cls, v: list[str]) -> list[str]:
        if len(v) > MAX_PATTERNS:
            raise ValueError(f"at most {MAX_PATTERNS} patterns")
        for i, p in enumerate(v):
            if not p:
                raise ValueError(f"[{i}] must not be empty")
            if len(p) > MAX_PATTERN_LEN:
                raise ValueError(f"[{i}] is longer than {MAX_PATTERN_LEN} characters")
            try:
                regex.compile(p)
            except regex.error as exc:
                raise ValueError(f"[{i}] is not a valid regular expression ({exc})") from None
        return v

    @field_validator("detectors")
    @classmethod
    def _dedupe(cls, v: list[Detector]) -> list[Detector]:
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _something(self) -> "ContentPatternRule":
        if not self.patterns and not self.detectors:
            raise ValueError("patterns: give at least one pattern or detector")
        return self


class MaxTokensRule(_Rule):
    type: Literal["MAX_TOKENS"]
    limit: PositiveInt


Rule = Annotated[
    Union[
        TokenBudgetRule, RateLimitRule, ModelAllowlistRule, ModelDenylistRule,
        ContentPatternRule, MaxTokensRule,
    ],
    Field(discriminator="type"),
]
RULE_TYPES = ("TOKEN_BUDGET", "RATE_LIMIT", "MODEL_ALLOWLIST", "MODEL_DENYLIST", "CONTENT_PATTERN", "MAX_TOKENS")
LimitRule = Union[TokenBudgetRule, RateLimitRule]

_rule_adapter: TypeAdapter = TypeAdapter(Rule)

_FRIENDLY = {
    "greater_than": "must be a positive integer",
    "int_type": "must be an integer",
    "less_than_equal": f"must be at most {MAX_LIMIT}",
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
}


def describe_error(err: dict[str, Any], prefix: str) -> str:
    """One pydantic error as `prefix.field: message` (the union tag is dropped from the path)."""
    typ = err.get("type", "")
    loc = [str(p) for p in err.get("loc", ())]
    if loc and loc[0] in RULE_TYPES:
        loc = loc[1:]
    if typ in ("union_tag_invalid", "union_tag_not_found"):
        return f"{prefix}.type: must be one of {', '.join(RULE_TYPES)}"
    msg = err.get("msg", "invalid value")
    if typ == "value_error":
        msg = msg.removeprefix("Value error, ")
        # Validators may name a sub-field themselves ("requests: ...", "[2] ...").
        head, sep, rest = msg.partition(": ")
        if sep and " " not in head and not head.startswith("["):
            loc, msg = loc + [head], rest
        elif msg.startswith("["):
            idx, _, rest = msg.partition("] ")
            if loc:
                loc[-1] += idx + "]"
            msg = rest
    elif typ == "enum":
        msg = "must be one of " + ", ".join(
            e.strip().strip("'") for e in err.get("ctx", {}).get("expected", "").replace(" or ", ", ").split(",")
        )
    elif typ in _FRIENDLY:
        msg = _FRIENDLY[typ]
    path = prefix
    for p in loc:
        path += f"[{p}]" if p.isdigit() else f".{p}"
    return f"{path}: {msg}"


def parse_rule(data: Any, *, prefix: str = "rule") -> Rule:
    """Validate a rule object (dict from JSON or the store); raises RuleError naming the field."""
    if isinstance(data, BaseModel):
        return data  # type: ignore[return-value]
    if not isinstance(data, dict):
        raise RuleError(f"{prefix}: must be an object")
    if "type" not in data:
        raise RuleError(f"{prefix}.type: is required (one of {', '.join(RULE_TYPES)})")
    try:
        return _rule_adapter.validate_python(data)
    except ValidationError as exc:
        raise RuleError(describe_error(exc.errors()[0], prefix)) from None


def rule_to_wire(rule: Rule | None) -> dict[str, Any] | None:
    """The rule as stored and returned (enums as strings, nulls kept for RATE_LIMIT)."""
    return None if rule is None else rule.model_dump(mode="json")


def subject_key(per: Per | str, subject_id: str, policy_id: str) -> str:
    """Decision subject for a limit policy: `KEY:<keyId>:<policyId>` (compacted topic key)."""
    per_s = per.value if isinstance(per, Per) else str(per)
    return f"{per_s}:{subject_id}:{policy_id}"


# ---------------------------------------------------------------- API models (/policy)

class _ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class RiskTypeName(str, Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class PolicyCreate(_ApiModel):
    name: StrictStr = Field(min_length=1, max_length=200)
    content: StrictStr | None = Field(default=None, max_length=20000)
    risk_type: RiskTypeName
    action_type: Literal[0, 1, 2]
    org_id: StrictStr = Field(min_length=1, max_length=64)
    workspace_id: StrictStr | None = Field(default=None, max_length=64)
    repo_id: StrictStr | None = Field(default=None, max_length=64)
    rule: dict[str, Any] | None = None


class PolicyUpdate(_ApiModel):
    """PUT /policy/{id}: any subset; scope (orgId/workspaceId/repoId) cannot move."""

    name: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    content: StrictStr | None = Field(default=None, max_length=20000)
    risk_type: RiskTypeName | None = None
    action_type: Literal[0, 1, 2] | None = None
    rule: dict[str, Any] | None = None


class PolicyPublic(_ApiModel):
    id: str
    org_id: str
    name: str
    content: str
    risk_type: str
    action_type: int
    workspace_id: str | None
    repo_id: str | None
    created_at: datetime
    last_updated_at: datetime
    rule: dict[str, Any] | None


# ---------------------------------------------------------------- fixed windows (UTC)

_SPAN_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}


def window_bounds(span: Period | Window | str, t: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the fixed UTC window containing `t` (MONTH = calendar month)."""
    name = span.value if isinstance(span, Enum) else str(span)
    t = t.astimezone(timezone.utc)
    if name == "MONTH":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return start, end
    size = _SPAN_SECONDS[name]
    epoch = int(t.timestamp()) // size * size
    start = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return start, start + timedelta(seconds=size)


def limit_span(rule: "TokenBudgetRule | RateLimitRule") -> str:
    return rule.period.value if isinstance(rule, TokenBudgetRule) else rule.window.value


def limit_metrics(rule: "TokenBudgetRule | RateLimitRule") -> list[tuple[str, int]]:
    """(metric, limit) pairs a limit rule counts: tokens for a budget; requests and/or tokens
    for a rate limit. Shared by the gateway's ledger and the policy consumer's windows."""
    if isinstance(rule, TokenBudgetRule):
        return [("tokens", rule.limit)]
    out = []
    if rule.requests is not None:
        out.append(("requests", rule.requests))
    if rule.tokens is not None:
        out.append(("tokens", rule.tokens))
    return out


# ---------------------------------------------------------------- in-memory policies

@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy as gateways and the policy consumer hold it in memory (rule parsed, patterns compiled)."""

    id: str
    org_id: str
    name: str
    action_type: int
    risk_type: str = "MEDIUM"
    workspace_id: str | None = None
    repo_id: str | None = None
    content: str = ""
    rule: Rule | None = None
    patterns: tuple[Any, ...] = ()   # compiled `regex` patterns of a CONTENT_PATTERN rule
    # One alternation of the patterns that can be merged without changing their meaning (None:
    # fewer than two), and the indexes of the ones searched on their own. A pre-filter only: a
    # hit or timeout re-runs the patterns one by one, so explanations and timeouts are unchanged.
    patterns_any: Any = None
    patterns_alone: tuple[int, ...] = ()

    @property
    def blocks(self) -> bool:
        return self.action_type == 2

    def applies_to(self, org_id: str, workspace_id: str | None, repo_id: str | None) -> bool:
        """Org policies apply to every repo of the org; workspace ones to its repos; repo ones to it."""
        if self.org_id != org_id:
            return False
        if self.workspace_id is not None and self.workspace_id != workspace_id:
            return False
        if self.repo_id is not None and self.repo_id != repo_id:
            return False
        return True


def compile_policy(
    *, id: str, org_id: str, name: str, action_type: int, risk_type: str = "MEDIUM",
    workspace_id: str | None = None, repo_id: str | None = None, content: str = "",
    rule: Mapping[str, Any] | Rule | None = None,
) -> CompiledPolicy:
    """Parse the rule and pre-compile its patterns (raises RuleError on a bad stored rule)."""
    parsed = parse_rule(dict(rule) if isinstance(rule, Mapping) else rule) if rule is not None else None
    patterns: tuple[Any, ...] = ()
    patterns_any, patterns_alone = None, ()
    if isinstance(parsed, ContentPatternRule):
        patterns = tuple(regex.compile(p) for p in parsed.patterns)
        patterns_any, patterns_alone = merge_patterns(parsed.patterns)
    return CompiledPolicy(
        id=id, org_id=org_id, name=name, action_type=int(action_type), risk_type=risk_type,
        workspace_id=workspace_id, repo_id=repo_id, content=content or "", rule=parsed,
        patterns=patterns, patterns_any=patterns_any, patterns_alone=patterns_alone,
    )


_DEFAULT_FLAGS = regex.compile("").flags
# Constructs whose meaning depends on the rest of the pattern (group numbers, recursion,
# conditionals, backtracking verbs that stop the search): such a pattern is never merged.
# Lexical and deliberately over-broad (an escaped `\\1` is refused too; refusing only costs speed).
_UNMERGEABLE = regex.compile(r"\\[1-9gk]|\(\?(?:P[=>]|&|R|\(|[+-]?\d)|\(\*")
_LEADING_FLAGS = regex.compile(r"\(\?([imsx]+)\)")   # flags that also exist as scoped `(?i:...)`


def _mergeable(src: str) -> str | None:
    """`src` as a self-contained alternative (same matches anywhere in an alternation), or None."""
    if _UNMERGEABLE.search(src):
        return None
    if regex.compile(src).flags == _DEFAULT_FLAGS:
        return f"(?:{src})"   # no global flags: inline flags inside groups are already scoped
    m = _LEADING_FLAGS.match(src)
    if m is None:
        return None
    rest = src[m.end():]
    try:
        if regex.compile(rest).flags != _DEFAULT_FLAGS:
            return None   # more global flags further on
    except regex.error:
        return None
    # The newline ends a trailing `# comment` of a verbose pattern (whitespace there otherwise).
    return f"(?{m.group(1)}:{rest}\n)" if "x" in m.group(1) else f"(?{m.group(1)}:{rest})"


def merge_patterns(sources: list[str] | tuple[str, ...]) -> tuple[Any, tuple[int, ...]]:
    """(one compiled alternation of the mergeable patterns or None, indexes of the others).

    One search of the alternation finds a match iff one of the merged patterns matches, at about
    the cost of a single search; callers re-run the patterns singly only on a hit or a timeout."""
    parts, alone = [], []
    for i, src in enumerate(sources):
        part = _mergeable(src)
        if part is None:
            alone.append(i)
        else:
            parts.append(part)
    if len(parts) < 2:
        return None, tuple(range(len(sources)))
    try:
        merged = regex.compile("|".join(parts))
    except regex.error:
        return None, tuple(range(len(sources)))
    return merged, tuple(alone)


def compile_policies(rows: Iterable[Any]) -> list[CompiledPolicy]:
    """From store rows (attributes) or dicts; rows whose stored rule no longer parses are skipped."""
    out = []
    for r in rows:
        get = r.get if isinstance(r, Mapping) else (lambda k, _r=r: getattr(_r, k))
        try:
            out.append(compile_policy(
                id=get("id"), org_id=get("org_id"), name=get("name"), action_type=get("action_type"),
                risk_type=get("risk_type") or "MEDIUM", workspace_id=get("workspace_id"),
                repo_id=get("repo_id"), content=get("content") or "", rule=get("rule"),
            ))
        except RuleError:
            continue
    return out
