"""What a running dashboard holds (one per app): settings, database, evidence store, auth helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dashboard.auth.ratelimit import LoginLimiter
from dashboard.auth.sessions import SessionCodec
from dashboard.db.engine import Database
from dashboard.settings import DashboardSettings
from dashboard.storage.evidence import EvidenceStore

# (topic, payload, retain) -> None; publishes with QoS 1 (model rollout commands).
Publisher = Callable[[str, bytes, bool], None]


@dataclass
class AppContext:
    settings: DashboardSettings
    db: Database
    evidence: EvidenceStore
    sessions: SessionCodec
    login_limiter: LoginLimiter
    publisher: Publisher | None = None
    extras: dict[str, Any] = field(default_factory=dict)
