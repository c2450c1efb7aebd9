"""initial schema: every table in store/models.py, plus the config_epoch row 1

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:26:11.504279
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "orgs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("org_role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_org_id"), ["org_id"], unique=False)

    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("judge_ai_llm_id", sa.String(length=36), nullable=True),
        sa.Column("judge_model", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "name", name="uq_workspace_org_name"),
    )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workspaces_org_id"), ["org_id"], unique=False)

    op.create_table(
        "ai_llms",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ai_type", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("key_hint", sa.String(length=16), nullable=True),
        sa.Column("validation_status", sa.String(length=16), nullable=False),
        sa.Column("last_validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_validation_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_aillm_ws_name"),
    )
    with op.batch_alter_table("ai_llms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_llms_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ai_llms_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "repos",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("endpoint_type", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_repo_ws_name"),
    )
    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repos_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_repos_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "workspace_members",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "user_id"),
    )
    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workspace_members_user_id"), ["user_id"], unique=False)

    op.create_table(
        "policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("repo_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("risk_type", sa.String(length=8), nullable=False),
        sa.Column("action_type", sa.Integer(), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policies_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_policies_repo_id"), ["repo_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_policies_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "repo_ai_llms",
        sa.Column("repo_id", sa.String(length=36), nullable=False),
        sa.Column("ai_llm_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ai_llm_id"], ["ai_llms.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("repo_id", "ai_llm_id"),
    )
    with op.batch_alter_table("repo_ai_llms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repo_ai_llms_ai_llm_id"), ["ai_llm_id"], unique=False)

    op.create_table(
        "repo_api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("repo_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ai_type", sa.String(length=16), nullable=False),
        sa.Column("key_prefix", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    with op.batch_alter_table("repo_api_keys", schema=None) as batch_op:
        batch_op.create_index("ix_repo_api_keys_live", ["repo_id", "deleted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_repo_api_keys_repo_id"), ["repo_id"], unique=False)

    op.bulk_insert(
        sa.table(
            "config_epoch",
            sa.column("id", sa.Integer()),
            sa.column("epoch", sa.BigInteger()),
            sa.column("changed_at", sa.DateTime(timezone=True)),
        ),
        [{"id": 1, "epoch": 0, "changed_at": datetime.now(UTC)}],
    )


def downgrade() -> None:
    with op.batch_alter_table("repo_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repo_api_keys_repo_id"))
        batch_op.drop_index("ix_repo_api_keys_live")

    op.drop_table("repo_api_keys")
    with op.batch_alter_table("repo_ai_llms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repo_ai_llms_ai_llm_id"))

    op.drop_table("repo_ai_llms")
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policies_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_policies_repo_id"))
        batch_op.drop_index(batch_op.f("ix_policies_org_id"))

    op.drop_table("policies")
    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workspace_members_user_id"))

    op.drop_table("workspace_members")
    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repos_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_repos_org_id"))

    op.drop_table("repos")
    with op.batch_alter_table("ai_llms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_llms_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_ai_llms_org_id"))

    op.drop_table("ai_llms")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workspaces_org_id"))

    op.drop_table("workspaces")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_org_id"))

    op.drop_table("users")
    op.drop_table("orgs")
    op.drop_table("config_epoch")
