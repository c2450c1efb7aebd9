"""Enumerations named as in the contract."""

from enum import Enum


class AiType(str, Enum):
    OPENAI = "OPENAI"
    GOOGLE = "GOOGLE"
    ANTHROPIC = "ANTHROPIC"
    AWS = "AWS"
    OTHER = "OTHER"


class OrgRole(str, Enum):
    USER = "USER"
    BILLING = "BILLING"
    WORKSPACES = "WORKSPACES"
    ADMINISTRATORS = "ADMINISTRATORS"
    OWNER = "OWNER"


class WorkspaceRole(str, Enum):
    READ = "READ"
    WRITE = "WRITE"
    ADMIN = "ADMIN"


class ValidationStatus(str, Enum):
    UNVALIDATED = "UNVALIDATED"
    VALID = "VALID"
    INVALID = "INVALID"


class ActionType(int, Enum):
    LOG = 0
    ALERT = 1
    BLOCK = 2


# `provider/model` prefixes a client may put before a model name (routing: every configuration of
# that type serves the rest of the name).
PROVIDER_ALIASES: dict[str, str] = {
    "openai": "OPENAI",
    "anthropic": "ANTHROPIC",
    "google": "GOOGLE",
    "gemini": "GOOGLE",
    "bedrock": "AWS",
    "aws": "AWS",
    "other": "OTHER",
}


def bare_model(model: str) -> str:
    """`anthropic/claude-x` -> `claude-x`: the model name without a provider alias, so usage of
    one model is one row however clients spell it. Other prefixes (`meta-llama/...`) stay."""
    prefix, sep, rest = model.partition("/")
    return rest if sep and rest and prefix.lower() in PROVIDER_ALIASES else model
