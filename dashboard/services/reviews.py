"""Reviews: a supervisor's verdict on an event after watching its evidence; the latest one counts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dashboard.db.audit import audit
from dashboard.db.models import Event, Review
from dashboard.enums import ReviewReason, Verdict
from dashboard.services.base import Actor, clean_text
from dashboard.services.errors import Invalid

NOTE_MAX = 2000


def record_review(db: Session, event: Event, actor: Actor, verdict: Verdict, reason: ReviewReason | None,
                  note: str | None) -> Review:
    """Confirm or dismiss. A dismissal needs a reason; a confirmation keeps the one given (it says why the
    reviewer judged so, and the review history shows it). Only confirmed violations count in reports."""
    if verdict is Verdict.DISMISS and reason is None:
        raise Invalid("a dismissal needs a reason: false_alarm, excused or other")
    note = clean_text(note, NOTE_MAX)
    row = Review(event_pk=event.id, user_id=actor.user.id, verdict=verdict, reason=reason, note=note, at=actor.now)
    db.add(row)
    event.verdict = verdict
    event.updated_at = actor.now
    db.flush()
    audit(db, actor.user, "review", "event", event.event_id,
          {"verdict": verdict.value, "reason": reason.value if reason else None, "note": note}, ip=actor.ip)
    return row
