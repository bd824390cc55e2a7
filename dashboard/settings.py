"""Dashboard settings: one object, from YAML + ``CW_DASHBOARD_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from counterwatch.config import ServiceSettings


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str = "dashboard"
    password: SecretStr | None = None
    tls: bool = False
    tls_cafile: Path | None = None
    # A fixed client id with clean_session=False: the broker keeps our QoS 1 queue while we are away.
    client_id: str = "counterwatch-dashboard"
    keepalive_s: int = Field(30, ge=5)


class IngestSettings(BaseModel):
    # A batch is committed when it reaches max_batch messages or max_delay_ms after its first message;
    # messages are acknowledged to the broker only after their batch is committed.
    max_batch: int = Field(500, ge=1)
    max_delay_ms: int = Field(50, ge=1)


class LeavePolicy(BaseModel):
    """Who must approve a leave of a given length (calendar days, rounded up)."""

    hall_head_max_days: float = Field(1.0, gt=0)
    district_leader_max_days: float = Field(2.0, gt=0)
    max_days: float = Field(30.0, gt=0)
    # Types exempt from ``max_days`` (statutory leave).
    unlimited_types: list[str] = Field(default_factory=lambda: ["maternity"])


class SiteDefaults(BaseModel):
    site_id: str = "hall1"
    name: str = "政务服务大厅"
    timezone: str = "Asia/Shanghai"


class DashboardSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CW_DASHBOARD_")

    database_url: str = "sqlite:///var/dashboard/counterwatch.db"
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    evidence_dir: Path = Path("var/dashboard/evidence")
    session_secret: SecretStr | None = Field(
        default=None, description="signs session cookies; generated into var/dashboard/ when unset"
    )
    session_max_age_s: int = Field(12 * 3600, ge=60)
    cookie_secure: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=1, le=65535)
    site: SiteDefaults = Field(default_factory=SiteDefaults)
    leave_policy: LeavePolicy = Field(default_factory=LeavePolicy)
    # An unacknowledged alert escalates to the supervisor after this long.
    escalation_minutes: int = Field(10, ge=1)
    # Grace for off-post notices: registered up to this long after leaving / back this long after expected.
    notice_grace_minutes: int = Field(5, ge=0)
    admin_username: str = "admin"
    admin_password: SecretStr | None = None
    login_max_failures: int = Field(5, ge=1)
    login_window_s: int = Field(300, ge=1)
    run_migrations: bool = True
    state_dir: Path = Path("var/dashboard")
