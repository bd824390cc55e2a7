"""evidence keyed by (device_id, id); dead letters keep a bounded payload with its size and sha256

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Evidence ids were global: a device that uploaded an id first made the owner's upload fail (409).
    # Existing ids are unique, so every existing row stays valid under the wider key.
    with op.batch_alter_table("evidence") as batch:
        batch.drop_constraint("pk_evidence", type_="primary")
        batch.create_primary_key("pk_evidence", ["device_id", "id"])
    # Nullable: rows from before keep their whole payload and have no recorded size or hash.
    with op.batch_alter_table("dead_letter") as batch:
        batch.add_column(sa.Column("payload_size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("payload_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dead_letter") as batch:
        batch.drop_column("payload_sha256")
        batch.drop_column("payload_size")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_constraint("pk_evidence", type_="primary")
        batch.create_primary_key("pk_evidence", ["id"])
