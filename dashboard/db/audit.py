"""Audit trail: who viewed which clip, who changed which record."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dashboard.db.models import AuditLog, User


def audit(
    db: Session,
    actor: User | str,
    action: str,
    entity: str,
    entity_id: object = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    """Add an audit row to the caller's transaction (it commits with the change it records)."""
    row = AuditLog(
        user_id=actor.id if isinstance(actor, User) else None,
        actor=actor.username if isinstance(actor, User) else actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        detail=detail or {},
        ip=ip,
    )
    db.add(row)
    return row
