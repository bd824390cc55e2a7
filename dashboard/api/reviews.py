"""/api/v1/reviews/export: supervisors' verdicts as labelled examples for fine-tuning the detector.

Read by ``counterwatch models dataset-from-reviews`` (models/reviews.py), over HTTP only. One item per
reviewed event whose latest review says something about the *detector*:

* confirmed -> its snapshot with the boxes the edge stored in ``details["boxes"]`` (broker/boxes.py).
  Without stored boxes it is skipped: an empty label file would teach the model that the objects are not there.
* dismissed as ``false_alarm`` for an object rule (phone, eating, slippers) -> the snapshot with the stored
  boxes minus the class that fired (all of them when none were stored): what the model wrongly saw becomes
  background, a negative.
* skipped: dismissals for other reasons (``excused``: the detection was right), false alarms of the absence
  rules (there the model *missed* someone, and a negative would teach it to miss them), camera-health
  events, events without an uploaded snapshot, and stored boxes that cannot be read.

How many were skipped and why is in the ``X-Export-Skipped`` header (JSON object, reason -> count).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import func, select

from broker.boxes import DETAILS_KEY, BoxFormatError, decode_boxes
from broker.payloads import Rule
from dashboard.api.evidence import evidence_url
from dashboard.auth.deps import DbSession, Reviewer
from dashboard.db.models import Event, Evidence, Review
from dashboard.enums import ReviewReason, Verdict

router = APIRouter(tags=["reviews"])

SKIPPED_HEADER = "X-Export-Skipped"
# A false alarm of these rules means the detector saw an object that was not there.
FALSE_ALARM_CLASSES: dict[str, frozenset[str]] = {
    Rule.PHONE_USE.value: frozenset({"phone"}),
    Rule.EATING.value: frozenset({"food", "drink"}),
    Rule.SLIPPERS.value: frozenset({"slipper"}),
}
CAMERA_RULES = frozenset(r.value for r in Rule if r.is_camera_health)


class ExportBox(BaseModel):
    cls: str
    x1: float
    y1: float
    x2: float
    y2: float


class ExportItem(BaseModel):
    event_id: str
    rule: str
    reviewed_at: datetime
    snapshot_url: str
    verdict: Literal["confirmed", "rejected"]
    boxes: list[ExportBox]


def _snapshot_id(event: Event) -> str | None:
    for ref in event.evidence:
        if isinstance(ref, dict) and ref.get("kind") == "snapshot" and isinstance(ref.get("id"), str):
            return str(ref["id"])
    return None


def _item(event: Event, review: Review, snapshot_url: str) -> tuple[ExportItem | None, str | None]:
    """(item, None) or (None, why it was skipped)."""
    if event.rule in CAMERA_RULES:
        return None, "camera_health"
    if review.verdict is Verdict.DISMISS:
        if review.reason is not ReviewReason.FALSE_ALARM:
            return None, "dismissed_not_false_alarm"
        if event.rule not in FALSE_ALARM_CLASSES:
            return None, "missed_detection"
    try:
        stored = decode_boxes(str(event.details.get(DETAILS_KEY, "")))
    except BoxFormatError:
        return None, "unreadable_boxes"
    if review.verdict is Verdict.CONFIRM:
        if not stored:
            return None, "no_boxes"
        kept, verdict = stored, "confirmed"
    else:
        kept, verdict = [b for b in stored if b.label not in FALSE_ALARM_CLASSES[event.rule]], "rejected"
    boxes = [ExportBox(cls=b.label, x1=b.x1, y1=b.y1, x2=b.x2, y2=b.y2) for b in kept]
    return ExportItem(event_id=event.event_id, rule=event.rule, reviewed_at=review.at, snapshot_url=snapshot_url,
                      verdict=verdict, boxes=boxes), None


@router.get("/reviews/export", response_model=list[ExportItem],
            responses={200: {"headers": {SKIPPED_HEADER: {"description": "JSON: skip reason -> count"}}}})
def export_reviews(
    response: Response,
    db: DbSession,
    _: Reviewer,
    since: AwareDatetime | None = Query(None, description="reviewed at or after (ISO-8601 with timezone)"),
    limit: int = Query(5000, ge=1, le=50000, description="at most this many reviews are looked at, oldest first"),
) -> list[ExportItem]:
    """Reviewed events as training examples, oldest review first (page on with ``since`` = the last
    ``reviewed_at``). The latest review of an event counts."""
    latest = (select(Review.event_pk, func.max(Review.id).label("review_id"))
              .group_by(Review.event_pk).subquery())
    stmt = (select(Event, Review)
            .join(latest, latest.c.event_pk == Event.id)
            .join(Review, Review.id == latest.c.review_id)
            .where(Event.verdict.is_not(None)))
    if since is not None:
        stmt = stmt.where(Review.at >= since)
    rows = db.execute(stmt.order_by(Review.at, Review.id).limit(limit)).all()
    wanted = {sid for sid in (_snapshot_id(e) for e, _ in rows) if sid is not None}
    # Only snapshots that arrived, as JPEG, from the device that reported the event.
    stored = {(row.id, row.device_id) for row in db.scalars(
        select(Evidence).where(Evidence.id.in_(wanted), Evidence.content_type == "image/jpeg"))} if wanted else set()
    items: list[ExportItem] = []
    skipped: dict[str, int] = {}
    for event, review in rows:
        sid = _snapshot_id(event)
        item, why = (None, "no_snapshot") if sid is None or (sid, event.device_id) not in stored else \
            _item(event, review, evidence_url(event.device_id, sid))
        if item is None:
            skipped[why or "other"] = skipped.get(why or "other", 0) + 1
        else:
            items.append(item)
    response.headers[SKIPPED_HEADER] = json.dumps(skipped, sort_keys=True)
    return items
