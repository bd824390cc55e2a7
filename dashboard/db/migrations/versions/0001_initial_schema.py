"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 09:16:32.745202
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column(
            "role",
            sa.Enum("admin", "supervisor", "duty", "viewer", name="role", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=512), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
    )
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letter_code"), ["code"], unique=False)
        batch_op.create_index("ix_dead_letter_received", ["received_at"], unique=False)

    op.create_table(
        "ingest_counter",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ingest_counter")),
    )
    op.create_table(
        "model_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_version")),
        sa.UniqueConstraint("version", name=op.f("uq_model_version_version")),
    )
    op.create_table(
        "site",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_api_token_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_audit_log_user_id_app_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_at", ["at"], unique=False)

    op.create_table(
        "device",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("upload_token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum("unknown", "online", "offline", name="devicestatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("software_version", sa.String(length=64), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("heartbeat", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_device_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device")),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_site_id"), ["site_id"], unique=False)

    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("employee_no", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_staff_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("employee_no", name=op.f("uq_staff_employee_no")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_site_id"), ["site_id"], unique=False)

    op.create_table(
        "camera",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("health", sa.String(length=16), nullable=True),
        sa.Column("health_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("health_detail", sa.String(length=256), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("last_frame_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name=op.f("fk_camera_device_id_device")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera")),
        sa.UniqueConstraint("device_id", "code", name=op.f("uq_camera_device_id")),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=256), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name=op.f("fk_evidence_device_id_device")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
    )
    op.create_table(
        "leave_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "sick",
                "personal",
                "annual",
                "maternity",
                "official_business",
                "other",
                name="leavetype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "rejected", "cancelled", name="leavestatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "approval_level",
            sa.Enum(
                "hall_head", "district_leader", "principal_leaders", name="approvallevel", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["approved_by"], ["app_user.id"], name=op.f("fk_leave_record_approved_by_app_user")),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"], name=op.f("fk_leave_record_created_by_app_user")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_leave_record_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leave_record")),
    )
    with op.batch_alter_table("leave_record", schema=None) as batch_op:
        batch_op.create_index("ix_leave_staff_time", ["staff_id", "start", "end"], unique=False)

    op.create_table(
        "model_rollout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name=op.f("fk_model_rollout_device_id_device")),
        sa.ForeignKeyConstraint(["issued_by"], ["app_user.id"], name=op.f("fk_model_rollout_issued_by_app_user")),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_version.id"], name=op.f("fk_model_rollout_model_version_id_model_version")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_rollout")),
    )
    with op.batch_alter_table("model_rollout", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_rollout_device_id"), ["device_id"], unique=False)

    op.create_table(
        "window",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("camera_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["camera.id"], name=op.f("fk_window_camera_id_camera")),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_window_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_window")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_window_site_id")),
    )
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("subtype", sa.String(length=32), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "verdict", sa.Enum("confirm", "dismiss", name="verdict", native_enum=False, length=32), nullable=True
        ),
        sa.ForeignKeyConstraint(["camera_id"], ["camera.id"], name=op.f("fk_event_camera_id_camera")),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name=op.f("fk_event_device_id_device")),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_event_site_id_site")),
        sa.ForeignKeyConstraint(["window_id"], ["window.id"], name=op.f("fk_event_window_id_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_event_id")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_rule_started", ["rule", "started_at"], unique=False)
        batch_op.create_index("ix_event_started", ["started_at"], unique=False)
        batch_op.create_index("ix_event_window_started", ["window_id", "started_at"], unique=False)

    op.create_table(
        "off_post_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_return", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actual_return", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"], name=op.f("fk_off_post_notice_created_by_app_user")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_off_post_notice_staff_id_staff")),
        sa.ForeignKeyConstraint(["window_id"], ["window.id"], name=op.f("fk_off_post_notice_window_id_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_off_post_notice")),
    )
    with op.batch_alter_table("off_post_notice", schema=None) as batch_op:
        batch_op.create_index("ix_notice_staff_time", ["staff_id", "left_at"], unique=False)

    op.create_table(
        "presence_interval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("present", "absent", "unobserved", "sign_on", name="presencestate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["window_id"], ["window.id"], name=op.f("fk_presence_interval_window_id_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_interval")),
    )
    with op.batch_alter_table("presence_interval", schema=None) as batch_op:
        batch_op.create_index("ix_presence_window_start", ["window_id", "start"], unique=False)

    op.create_table(
        "roster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_roster_staff_id_staff")),
        sa.ForeignKeyConstraint(["window_id"], ["window.id"], name=op.f("fk_roster_window_id_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster")),
    )
    with op.batch_alter_table("roster", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_roster_staff_id"), ["staff_id"], unique=False)
        batch_op.create_index("ix_roster_window_time", ["window_id", "start", "end"], unique=False)

    op.create_table(
        "state_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum("present", "absent", "unobserved", "sign_on", name="presencestate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("staff_count", sa.Integer(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("in_service_hours", sa.Boolean(), nullable=False),
        sa.Column("sign_cue", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["camera_id"], ["camera.id"], name=op.f("fk_state_change_camera_id_camera")),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name=op.f("fk_state_change_device_id_device")),
        sa.ForeignKeyConstraint(["window_id"], ["window.id"], name=op.f("fk_state_change_window_id_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_change")),
        sa.UniqueConstraint("state_id", name=op.f("uq_state_change_state_id")),
    )
    with op.batch_alter_table("state_change", schema=None) as batch_op:
        batch_op.create_index("ix_state_window_changed", ["window_id", "changed_at"], unique=False)

    op.create_table(
        "absence_classification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interval_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column(
            "classification",
            sa.Enum(
                "approved_leave",
                "notice_on_time",
                "notice_late",
                "unexcused",
                name="classification",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("leave_id", sa.Integer(), nullable=True),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["interval_id"],
            ["presence_interval.id"],
            name=op.f("fk_absence_classification_interval_id_presence_interval"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["leave_id"],
            ["leave_record.id"],
            name=op.f("fk_absence_classification_leave_id_leave_record"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["off_post_notice.id"],
            name=op.f("fk_absence_classification_notice_id_off_post_notice"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_absence_classification_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_absence_classification")),
        sa.UniqueConstraint("interval_id", "staff_id", name=op.f("uq_absence_classification_interval_id")),
    )
    with op.batch_alter_table("absence_classification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_absence_classification_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "alert_ack",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["event.id"], name=op.f("fk_alert_ack_event_pk_event"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_alert_ack_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_ack")),
    )
    with op.batch_alter_table("alert_ack", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_ack_event_pk"), ["event_pk"], unique=False)

    op.create_table(
        "event_attribution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column(
            "classification",
            sa.Enum(
                "approved_leave",
                "notice_on_time",
                "notice_late",
                "unexcused",
                name="classification",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("leave_id", sa.Integer(), nullable=True),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["event.id"], name=op.f("fk_event_attribution_event_pk_event"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["leave_id"],
            ["leave_record.id"],
            name=op.f("fk_event_attribution_leave_id_leave_record"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["off_post_notice.id"],
            name=op.f("fk_event_attribution_notice_id_off_post_notice"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_event_attribution_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_attribution")),
        sa.UniqueConstraint("event_pk", "staff_id", name=op.f("uq_event_attribution_event_pk")),
    )
    with op.batch_alter_table("event_attribution", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_attribution_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "verdict", sa.Enum("confirm", "dismiss", name="verdict", native_enum=False, length=32), nullable=False
        ),
        sa.Column(
            "reason",
            sa.Enum("false_alarm", "excused", "other", name="reviewreason", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_pk"], ["event.id"], name=op.f("fk_review_event_pk_event"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_review_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review")),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_event_pk"), ["event_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_event_pk"))

    op.drop_table("review")
    with op.batch_alter_table("event_attribution", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_attribution_staff_id"))

    op.drop_table("event_attribution")
    with op.batch_alter_table("alert_ack", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_ack_event_pk"))

    op.drop_table("alert_ack")
    with op.batch_alter_table("absence_classification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_absence_classification_staff_id"))

    op.drop_table("absence_classification")
    with op.batch_alter_table("state_change", schema=None) as batch_op:
        batch_op.drop_index("ix_state_window_changed")

    op.drop_table("state_change")
    with op.batch_alter_table("roster", schema=None) as batch_op:
        batch_op.drop_index("ix_roster_window_time")
        batch_op.drop_index(batch_op.f("ix_roster_staff_id"))

    op.drop_table("roster")
    with op.batch_alter_table("presence_interval", schema=None) as batch_op:
        batch_op.drop_index("ix_presence_window_start")

    op.drop_table("presence_interval")
    with op.batch_alter_table("off_post_notice", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_staff_time")

    op.drop_table("off_post_notice")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_window_started")
        batch_op.drop_index("ix_event_started")
        batch_op.drop_index("ix_event_rule_started")

    op.drop_table("event")
    op.drop_table("window")
    with op.batch_alter_table("model_rollout", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_rollout_device_id"))

    op.drop_table("model_rollout")
    with op.batch_alter_table("leave_record", schema=None) as batch_op:
        batch_op.drop_index("ix_leave_staff_time")

    op.drop_table("leave_record")
    op.drop_table("evidence")
    op.drop_table("camera")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_site_id"))

    op.drop_table("staff")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_site_id"))

    op.drop_table("device")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_at")

    op.drop_table("audit_log")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("site")
    op.drop_table("model_version")
    op.drop_table("ingest_counter")
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.drop_index("ix_dead_letter_received")
        batch_op.drop_index(batch_op.f("ix_dead_letter_code"))

    op.drop_table("dead_letter")
    op.drop_table("app_user")
