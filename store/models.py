"""ORM models of the config store (SQLAlchemy 2). Portable across SQLite and PostgreSQL.

Ids are UUID strings made by the application; times are timezone-aware UTC.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores UTC; always returns aware datetimes (SQLite drops tzinfo otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Org(Base):
    __tablename__ = "orgs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)  # unique per org, not overall
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    org_role: Mapped[str] = mapped_column(String(32), default="USER")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("org_id", "email", name="uq_user_org_email"),)


class Workspace(Base):
    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The LLM judge for natural-language policies (policy issue).
    judge_ai_llm_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    judge_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_workspace_org_name"),)


class WorkspaceMember(Base):
    __tablename__ = "workspace_members"
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))


class AiLlm(Base):
    """A provider configuration. `key`/`secret` are sealed (AEAD); only a hint is kept clear."""

    __tablename__ = "ai_llms"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    ai_type: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str] = mapped_column(String(2048))
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    key_hint: Mapped[str | None] = mapped_column(String(16), nullable=True)  # last 4 at most
    validation_status: Mapped[str] = mapped_column(String(16), default="UNVALIDATED")
    last_validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_validation_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # price overrides, USD per 1M tokens by model glob (`pricing.overrides.parse_overrides` shape)
    prices: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_aillm_ws_name"),)


class BudgetLedger(Base):
    """How much of one budget window gateways have taken (leased) so far, in the budget's
    units (tokens, or 1e-12 USD). Gateways take slices with a compare-and-set UPDATE and give
    back what they did not spend; `granted` never passes the limit."""

    __tablename__ = "budget_ledgers"
    id: Mapped[str] = mapped_column(String(400), primary_key=True)  # policy:subject:window start
    granted: Mapped[int] = mapped_column(BigInteger, default=0)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Repo(Base):
    __tablename__ = "repos"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    endpoint_type: Mapped[str] = mapped_column(String(16), default="OPENAI")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    links: Mapped[list[RepoAiLlm]] = relationship(
        order_by="RepoAiLlm.position", cascade="all, delete-orphan", lazy="selectin"
    )
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_repo_ws_name"),)


class RepoAiLlm(Base):
    """Ordered attachment of a configuration to a repository; order = fallback order."""

    __tablename__ = "repo_ai_llms"
    repo_id: Mapped[str] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    ai_llm_id: Mapped[str] = mapped_column(ForeignKey("ai_llms.id", ondelete="RESTRICT"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class RepoApiKey(Base):
    """Repository AI API key; the bearer secret is stored only as a keyed hash."""

    __tablename__ = "repo_api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    repo_id: Mapped[str] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    ai_type: Mapped[str] = mapped_column(String(16), default="OPENAI")
    key_prefix: Mapped[str] = mapped_column(String(32))  # public part, shown in lists
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Policy(Base):
    __tablename__ = "policies"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=True, index=True
    )
    repo_id: Mapped[str | None] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), nullable=True, index=True)
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text, default="")
    risk_type: Mapped[str] = mapped_column(String(8), default="MEDIUM")
    action_type: Mapped[int] = mapped_column(Integer, default=0)
    rule: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """Management API token of a user: acts with the user's roles; only a SHA-256 hash is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RefreshToken(Base):
    """An issued login refresh token, by the SHA-256 of its jti (`store.refreshtokens`).

    `family_id` is shared by every token rotated from one login; `used_at` marks a rotated
    token (presenting it again revokes the family)."""

    __tablename__ = "refresh_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConfigEpoch(Base):
    """One row, bumped on every change gateways care about (keys, repos, configs, policies).

    Gateways poll it (cheap, indexed read) and reload their in-memory snapshot when it moves,
    so a change reaches every gateway process within the poll interval.
    """

    __tablename__ = "config_epoch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_repo_api_keys_live", RepoApiKey.repo_id, RepoApiKey.deleted_at)
