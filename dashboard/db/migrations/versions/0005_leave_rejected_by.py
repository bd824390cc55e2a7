"""leave_record.rejected_by / rejected_at: who turned a leave request down, and when

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 08:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: no table rewrite on PostgreSQL. A rejection recorded before this revision kept
    # the rejecter in approved_by (the web page did that); move it where it belongs.
    with op.batch_alter_table("leave_record") as batch:
        batch.add_column(sa.Column("rejected_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(op.f("fk_leave_record_rejected_by_app_user"), "app_user", ["rejected_by"], ["id"])
    op.execute("UPDATE leave_record SET rejected_by = approved_by, rejected_at = approved_at, "
               "approved_by = NULL, approved_at = NULL WHERE status = 'rejected' AND approved_by IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("leave_record") as batch:
        batch.drop_constraint(op.f("fk_leave_record_rejected_by_app_user"), type_="foreignkey")
        batch.drop_column("rejected_at")
        batch.drop_column("rejected_by")
