"""money: per-configuration price overrides (`ai_llms.prices`) and `budget_ledgers` (budget
slices leased by gateways, so token and USD budgets hold across gateway processes)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ai_llms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prices", sa.JSON(), nullable=True))
    op.create_table(
        "budget_ledgers",
        sa.Column("id", sa.String(length=400), nullable=False),
        sa.Column("granted", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("budget_ledgers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_budget_ledgers_window_end"), ["window_end"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("budget_ledgers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budget_ledgers_window_end"))
    op.drop_table("budget_ledgers")
    with op.batch_alter_table("ai_llms", schema=None) as batch_op:
        batch_op.drop_column("prices")
