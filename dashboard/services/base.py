"""Who is acting: passed to every service so the audit trail and the stored times agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dashboard.db.models import User, utcnow


@dataclass(frozen=True)
class Actor:
    user: User
    ip: str | None = None
    now: datetime = field(default_factory=utcnow)


def clean_text(value: str | None, limit: int) -> str | None:
    """Trimmed, at most ``limit`` characters; empty means none."""
    value = (value or "").strip()[:limit]
    return value or None
