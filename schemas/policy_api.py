"""The /policy API models (request and response bodies); rules themselves live in `policy.rules`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr
from pydantic.alias_generators import to_camel

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
