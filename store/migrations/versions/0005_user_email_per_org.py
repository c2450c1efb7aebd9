"""auth: emails are unique per organisation (`uq_user_org_email` on (org_id, email)) instead of
across the installation, so creating a user never tells an org admin that an email exists in
another org; `ix_users_email` keeps login's lookup by email an index read

Revision ID: 0005
Revises: 0004

SQLite cannot drop a constraint: the users table is rebuilt (batch mode). Dropping the old
table while foreign keys are enforced would run ON DELETE CASCADE on every table pointing at
users, so this revision refuses to run unless `store.migrate` has turned them off.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Names SQLite's unnamed constraints as reflected by batch mode (so the old one can be dropped).
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_email_constraints() -> list[str]:
    bind = op.get_bind()
    found = sa.inspect(bind).get_unique_constraints("users")
    return [c["name"] or "uq_users_email" for c in found if c["column_names"] == ["email"]]


def _require_foreign_keys_off() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("the users table is rebuilt: run `tollgate migrate` (foreign keys off while it runs)")


def upgrade() -> None:
    _require_foreign_keys_off()
    old = _old_email_constraints()
    with op.batch_alter_table("users", schema=None, naming_convention=_SQLITE_NAMES) as batch_op:
        for name in old:
            batch_op.drop_constraint(name, type_="unique")
        batch_op.create_unique_constraint("uq_user_org_email", ["org_id", "email"])
        batch_op.create_index(batch_op.f("ix_users_email"), ["email"], unique=False)


def downgrade() -> None:
    _require_foreign_keys_off()
    with op.batch_alter_table("users", schema=None, naming_convention=_SQLITE_NAMES) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_email"))
        batch_op.drop_constraint("uq_user_org_email", type_="unique")
        batch_op.create_unique_constraint("uq_users_email", ["email"])
