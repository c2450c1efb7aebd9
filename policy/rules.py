"""Policy rules: the optional machine-checkable `rule` object of a policy, and its fixed windows.

`rule` is a discriminated union on `type` (contract: Policies). Validation is strict
(unknown fields, bools-as-ints and numeric strings are refused) and every problem is reported
as `rule.<field>: <what is wrong>` through `RuleError`, which the API turns into a 400.

Choices documented here because gateways and consumers rely on them:

* MODEL_ALLOWLIST / MODEL_DENYLIST entries are case-insensitive shell globs (`*`, `?` only;
  `gpt-4o*` matches `gpt-4o-mini`). An entry is compared with the model as the client asked
  (`openai/gpt-4o`), with its bare name after the first `/` (`gpt-4o`), and with the
  provider model when known.
* CONTENT_PATTERN regexes run on RE2 (`google-re2`: linear time in the text, whatever the
  pattern, so no input can make a pattern slow), are compiled here (a pattern RE2 cannot
  compile, e.g. with backreferences or lookaround, is a 400 naming it), and are capped in size
  and count (per rule here; per scope by the API, `TOLLGATE_POLICY_MAX_PATTERNS_PER_SCOPE`).
* Limits (TOKEN_BUDGET, COST_BUDGET, RATE_LIMIT) are counted in fixed windows aligned to UTC
  (MONTH is a calendar month); `per` picks the subject the counter belongs to. COST_BUDGET
  counts USD as integers of 1e-12 USD (metric `usd_pico`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Annotated, Any, Literal

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


def compile_pattern(source: str) -> Any:
    """The RE2 program of a user pattern, searching UTF-8 bytes (the text is encoded once per
    request); ValueError with RE2's reason when RE2 refuses it."""
    import re2

    try:
        return re2.compile(source.encode("utf-8", "replace"), _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not compilable"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(str(reason)) from None


def _re2_options() -> Any:
    import re2

    o = re2.Options()
    o.max_mem = 8 << 20  # per program; RE2 falls back to its (still linear) NFA beyond
    o.log_errors = False
    o.never_capture = True  # a yes/no answer: RE2 stays on its DFA (no submatch tracking)
    return o


_RE2_OPTIONS = _re2_options()
MAX_LIMIT = 10**15  # 64-bit safe with room for sums
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
    ORG = "ORG"


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


PICO_PER_USD = 10**12  # COST_BUDGET counts in 1e-12 USD (the price quantum), as integers
MAX_LIMIT_USD = Decimal(10**6)


class CostBudgetRule(_Rule):
    """A budget in US dollars (`limitUsd` a decimal string, e.g. "25.00"), priced like the
    request events (override, then table). A blocking one refuses (403) a call whose model has no
    known price; a log/alert one cannot count such calls (they show as unpriced in the stats)."""

    type: Literal["COST_BUDGET"]
    limit_usd: StrictStr = Field(alias="limitUsd")
    period: Period
    per: Per = Per.KEY

    @field_validator("limit_usd")
    @classmethod
    def _usd(cls, v: str) -> str:
        try:
            d = Decimal(v.strip())
        except InvalidOperation:
            raise ValueError('must be a decimal string of US dollars, e.g. "25.00"') from None
        if not d.is_finite() or d <= 0 or d > MAX_LIMIT_USD:
            raise ValueError(f"must be above 0 and at most {MAX_LIMIT_USD}")
        if d.as_tuple().exponent < -12:  # type: ignore[operator]
            raise ValueError("has more than 12 decimals")
        return v.strip()

    @property
    def limit_pico(self) -> int:
        return int(Decimal(self.limit_usd) * PICO_PER_USD)


class RateLimitRule(_Rule):
    type: Literal["RATE_LIMIT"]
    requests: PositiveInt | None = None
    tokens: PositiveInt | None = None
    window: Window
    per: Per = Per.KEY

    @model_validator(mode="after")
    def _one_limit(self) -> RateLimitRule:
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
                compile_pattern(p)
            except ValueError as exc:
                raise ValueError(
                    f"[{i}] is not a valid regular expression for RE2, the linear-time engine "
                    f"(pattern {p[:100]} : {exc}); backreferences and lookaround are not "
                    "supported"
                ) from None
        return v

    @field_validator("detectors")
    @classmethod
    def _dedupe(cls, v: list[Detector]) -> list[Detector]:
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _something(self) -> ContentPatternRule:
        if not self.patterns and not self.detectors:
            raise ValueError("patterns: give at least one pattern or detector")
        return self


class MaxTokensRule(_Rule):
    type: Literal["MAX_TOKENS"]
    limit: PositiveInt


Rule = Annotated[
    TokenBudgetRule
    | CostBudgetRule
    | RateLimitRule
    | ModelAllowlistRule
    | ModelDenylistRule
    | ContentPatternRule
    | MaxTokensRule,
    Field(discriminator="type"),
]
RULE_TYPES = (
    "TOKEN_BUDGET",
    "COST_BUDGET",
    "RATE_LIMIT",
    "MODEL_ALLOWLIST",
    "MODEL_DENYLIST",
    "CONTENT_PATTERN",
    "MAX_TOKENS",
)
LimitRule = TokenBudgetRule | CostBudgetRule | RateLimitRule
LIMIT_RULES = (TokenBudgetRule, CostBudgetRule, RateLimitRule)  # the rules counted in windows

_rule_adapter: TypeAdapter[Rule] = TypeAdapter(Rule)

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
        raise RuleError(describe_error(dict(exc.errors()[0]), prefix)) from None


def rule_to_wire(rule: Rule | None) -> dict[str, Any] | None:
    """The rule as stored and returned (enums as strings, nulls kept for RATE_LIMIT)."""
    return None if rule is None else rule.model_dump(mode="json", by_alias=True)


def subject_key(per: Per | str, subject_id: str, policy_id: str) -> str:
    """Decision subject for a limit policy: `KEY:<keyId>:<policyId>` (compacted topic key)."""
    per_s = per.value if isinstance(per, Per) else str(per)
    return f"{per_s}:{subject_id}:{policy_id}"


# ---------------------------------------------------------------- fixed windows (UTC)

_SPAN_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}


def window_bounds(span: Period | Window | str, t: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the fixed UTC window containing `t` (MONTH = calendar month)."""
    name = span.value if isinstance(span, Enum) else str(span)
    t = t.astimezone(UTC)
    if name == "MONTH":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return start, end
    size = _SPAN_SECONDS[name]
    epoch = int(t.timestamp()) // size * size
    start = datetime.fromtimestamp(epoch, tz=UTC)
    return start, start + timedelta(seconds=size)


def limit_span(rule: TokenBudgetRule | CostBudgetRule | RateLimitRule) -> str:
    return rule.window.value if isinstance(rule, RateLimitRule) else rule.period.value


def limit_metrics(rule: TokenBudgetRule | CostBudgetRule | RateLimitRule) -> list[tuple[str, int]]:
    """(metric, limit) pairs a limit rule counts: tokens for a budget; requests and/or tokens
    for a rate limit. Shared by the gateway's ledger and the policy consumer's windows."""
    if isinstance(rule, TokenBudgetRule):
        return [("tokens", rule.limit)]
    if isinstance(rule, CostBudgetRule):
        return [("usd_pico", rule.limit_pico)]
    out: list[tuple[str, int]] = []
    if rule.requests is not None:
        out.append(("requests", rule.requests))
    if rule.tokens is not None:
        out.append(("tokens", rule.tokens))
    return out
