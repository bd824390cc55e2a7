"""Dashboard settings: one object, from YAML + ``CW_DASHBOARD_*`` environment variables. Every section forbids
unknown keys (a typo is an error naming its path, ``retention.day``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from broker.client_settings import MqttClientSettings
from common.config import ServiceSettings, StrictModel


class MqttSettings(MqttClientSettings):
    """The ingest's broker connection (broker/client_settings.py: password, ``tls: {ca, cert, key}``,
    ``keepalive_s``; ``tls: true`` + ``tls_cafile`` still read)."""

    username: str = "dashboard"
    # A fixed client id with clean_session=False: the broker keeps our QoS 1 queue while we are away.
    client_id: str = "counterwatch-dashboard"
    # Scale-out: every ingest consumer with the same group shares one stream ($share/<group>/<filter>); the
    # broker hands each message to one member, so several workers never insert the same message twice.
    shared_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                                     description="MQTT shared-subscription group of the ingest workers")
    # MQTT v5 (Mosquitto, EMQX): shared subscriptions are part of the standard there, and the session lives
    # ``session_expiry_s`` after a disconnect. 3.1.1 for brokers without v5 (the embedded amqtt broker).
    protocol: Literal["mqttv5", "mqttv311"] = "mqttv311"
    session_expiry_s: int = Field(14 * 24 * 3600, ge=60, le=0xFFFFFFFF,
                                  description="MQTT v5: how long the broker keeps our session (and queue)")

    def subscription(self, topic_filter: str) -> str:
        """The filter as this consumer subscribes to it: plain, or inside the shared group."""
        return f"$share/{self.shared_group}/{topic_filter}" if self.shared_group else topic_filter


class IngestSettings(StrictModel):
    # A batch is committed when it reaches max_batch messages or max_delay_ms after its first message;
    # messages are acknowledged to the broker only after their batch is committed.
    max_batch: int = Field(500, ge=1)
    max_delay_ms: int = Field(50, ge=1)
    # After each commit, tell every device which of its messages are now stored (broker/receipts.py): its
    # outbox keeps a message until then, so a broker that dies with undelivered messages loses nothing.
    receipts: bool = True
    # Device clocks: a timestamp further ahead of (or behind) the time of receipt than this is refused to
    # dead letters (code clock_skew): one status dated 9999-12-31 must not pin a device's state for good.
    clock_ahead_s: int = Field(24 * 3600, ge=60)
    clock_behind_days: int = Field(3650, ge=1, le=36500)
    # Dead letters keep a prefix of the payload (with its size and sha256), and only the newest rows.
    dead_letter_payload_bytes: int = Field(4096, ge=0, le=1024 * 1024)
    dead_letter_max_rows: int = Field(100_000, ge=100)


class LeavePolicy(StrictModel):
    """Who must approve a leave of a given length (calendar days, rounded up)."""

    hall_head_max_days: float = Field(1.0, gt=0)
    district_leader_max_days: float = Field(2.0, gt=0)
    max_days: float = Field(30.0, gt=0)
    # Types exempt from ``max_days`` (statutory leave).
    unlimited_types: list[str] = Field(default_factory=lambda: ["maternity"])


class SiteDefaults(StrictModel):
    site_id: str = "hall1"
    name: str = "政务服务大厅"
    timezone: str = "Asia/Shanghai"


class S3Settings(StrictModel):
    """Evidence in an S3-compatible store (``evidence_store: s3``); credentials usually from CW_DASHBOARD_S3__*."""

    endpoint_url: str | None = Field(None, description="e.g. https://minio.hall.local:9000; None = AWS")
    bucket: str = "counterwatch-evidence"
    prefix: str = Field("", description="key prefix inside the bucket, e.g. 'city1/'")
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    # MinIO and most self-hosted stores want path-style URLs (no bucket DNS names).
    path_style: bool = True
    create_bucket: bool = Field(False, description="create the bucket at startup when missing")
    multipart_threshold_mb: int = Field(16, ge=5)
    timeout_s: float = Field(10.0, gt=0)


class RetentionSettings(StrictModel):
    """How long evidence files are kept, in days from their upload (policy: dashboard/retention.py)."""

    days: int = Field(30, ge=1, description="evidence of events not confirmed: unreviewed, dismissed, unlinked")
    confirmed_days: int = Field(365, ge=1, description="evidence of an event whose latest review confirmed it")
    unreviewed_days: int | None = Field(
        None, ge=1, description="evidence of events not reviewed yet; None = days (privacy by default)")
    schedule: bool = Field(True, description="run the job inside `dashboard serve` (one replica is enough)")
    interval_s: float = Field(3600.0, gt=0, description="how often `dashboard serve` runs the job")
    batch_size: int = Field(500, ge=1, description="evidence rows per transaction")

    @model_validator(mode="after")
    def _days_is_the_floor(self) -> RetentionSettings:
        # The job relies on this: only events kept longer than ``days`` need looking at.
        for name in ("confirmed_days", "unreviewed_days"):
            value = getattr(self, name)
            if value is not None and value < self.days:
                raise ValueError(f"retention.{name} ({value}) must not be shorter than retention.days ({self.days})")
        return self


class HttpsSettings(StrictModel):
    """HTTPS for the dashboard: served directly (certfile + keyfile) or behind a TLS-terminating proxy."""

    certfile: Path | None = Field(None, description="server certificate (PEM), e.g. from `broker make-certs`")
    keyfile: Path | None = Field(None, description="its private key (PEM)")
    behind_proxy: bool = Field(False, description="a reverse proxy serves HTTPS in front of the dashboard")

    @model_validator(mode="after")
    def _both_or_neither(self) -> HttpsSettings:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("tls.certfile and tls.keyfile go together: set both or neither")
        return self

    @property
    def direct(self) -> bool:
        return self.certfile is not None


class DashboardSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CW_DASHBOARD_")

    database_url: str = "sqlite:///var/dashboard/counterwatch.db"
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    evidence_dir: Path = Path("var/dashboard/evidence")
    # "local": files under evidence_dir (one host, or a shared volume); "s3": an S3-compatible bucket.
    evidence_store: Literal["local", "s3"] = "local"
    s3: S3Settings = Field(default_factory=S3Settings)
    session_secret: SecretStr | None = Field(
        default=None, description="signs session cookies; generated into var/dashboard/ when unset"
    )
    session_max_age_s: int = Field(12 * 3600, ge=60)
    cookie_secure: bool = False  # also implied by HTTPS (tls.*)
    tls: HttpsSettings = Field(default_factory=HttpsSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
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
    # Login throttling (dashboard/auth/ratelimit.py): failures per source before back-off starts, and the
    # longest back-off (also how long a quiet source's failures are remembered).
    login_max_failures: int = Field(5, ge=1)
    login_window_s: int = Field(300, ge=1)
    login_backoff_base_s: float = Field(5.0, gt=0, description="first back-off; it doubles per failure")
    login_user_max_failures: int = Field(20, ge=1, description="failures on one username from unknown "
                                         "browsers (any address) before that username backs off")
    login_ip_burst: int = Field(20, ge=1, description="login attempts one address may make at once")
    login_ip_per_minute: float = Field(30.0, gt=0, description="... and per minute after that")
    login_max_concurrent_hashes: int = Field(4, ge=1, description="password hashes (64 MiB each) at once")
    login_hash_wait_s: float = Field(1.0, ge=0, description="wait for a hash slot before answering 503")
    login_limiter_entries: int = Field(10_000, ge=100, description="sources/addresses the limiter remembers")
    allowed_origins: list[str] = Field(
        default_factory=list, description="origins a sign-in may come from besides this server's own Host, "
        "e.g. the public https://dashboard.city.gov behind a reverse proxy")
    # FastAPI's /docs, /redoc and /api/v1/openapi.json: "login" (default) serves them to signed-in users only,
    # "off" not at all, "public" to anyone (they map the whole API: not for a dashboard on a shared network).
    api_docs: Literal["off", "login", "public"] = "login"
    run_migrations: bool = True
    state_dir: Path = Path("var/dashboard")
    demo: bool = Field(False, description="demo data (`counterwatch up`): every page says so; the seed rosters "
                       "the demo windows around the clock")

    @property
    def https(self) -> bool:
        """Browsers reach the dashboard over HTTPS: cookies are Secure and HSTS is sent."""
        return self.cookie_secure or self.tls.direct or self.tls.behind_proxy
