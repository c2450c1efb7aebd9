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
