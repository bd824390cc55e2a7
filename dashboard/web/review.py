"""The review queue: watch the evidence, confirm or dismiss. The verdict goes through dashboard.services."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from dashboard.api.common import IdPath
from dashboard.api.evidence import evidence_url
from dashboard.auth.deps import DbSession, Reviewer, actor
from dashboard.db.models import User
from dashboard.enums import ReviewReason, Verdict
from dashboard.retention import purged_ids
from dashboard.services import alerts as alert_service
from dashboard.services import reviews as review_service
from dashboard.web import pages, queries
from dashboard.web.render import render

router = pages.page_router()


def _evidence_url(device_id: str, evidence_id: str | None) -> str | None:
    # core's evidence endpoint (GET with Range support, audit-logged); see broker/evidence.py for the PUT.
    return evidence_url(device_id, evidence_id) if evidence_id else None


@router.get("/review", name="web_review")
def review_index(request: Request, db: DbSession, user: Reviewer, status: str = "pending") -> Response:
    return _review_page(request, db, user, None, status)


@router.get("/review/{pk}", name="web_review_event")
def review_event(request: Request, db: DbSession, user: Reviewer, pk: IdPath, status: str = "pending") -> Response:
    return _review_page(request, db, user, pk, status)


def _review_page(request: Request, db: Session, user: User, pk: int | None, status: str,
                 flash: str | None = None, status_code: int = 200) -> Response:
    status = "reviewed" if status == "reviewed" else "pending"
    queue = queries.review_queue(db, status)
    now, escalation = pages.now(), pages.escalation(request)
    queue_views = queries.alert_views(db, queue, now, escalation)
    current = None
    if pk is not None:
        current = queries.alert(db, pk, now, escalation)
        if current is None:
            return pages.not_found(request)
    elif queue_views:
        current = queue_views[0]
    pks = [q.pk for q in queue_views]
    prev_pk = next_pk = None
    if current is not None and current.pk in pks:
        i = pks.index(current.pk)
        prev_pk = pks[i - 1] if i > 0 else None
        next_pk = pks[i + 1] if i + 1 < len(pks) else None
    elif pks:
        next_pk = pks[0]
    ev = None
    if current is not None:
        # deleted under the retention policy
        purged = purged_ids(db, (current.clip_id, current.snapshot_id), current.device_id)
        dev = current.device_id
        ev = {**asdict(current), "clip_url": None if current.clip_id in purged else _evidence_url(dev, current.clip_id),
              "snapshot_url": None if current.snapshot_id in purged else _evidence_url(dev, current.snapshot_id),
              "evidence_purged": bool(purged), "review": queries.latest_review(db, current.pk)}
    ctx = pages.page_context(request, db, user, "review", "review.title")
    ctx.update(ev=ev, queue=queue_views, status=status, counts=queries.review_counts(db), prev_pk=prev_pk,
               next_pk=next_pk, can_review=True, reasons=[r.value for r in ReviewReason],
               flashes=[("error", flash)] if flash else [])
    return render("review.html", ctx, status_code=status_code)


@router.post("/review/{pk}", name="web_review_event_post")
def review_submit(
    request: Request, db: DbSession, user: Reviewer, pk: IdPath, verdict: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "", status: Annotated[str, Form()] = "pending",
) -> Response:
    event = alert_service.event_by_pk(db, pk)
    try:
        chosen, why = Verdict(verdict), ReviewReason(reason) if reason else None
        review_service.record_review(db, event, actor(request, user), chosen, why, note)
    except ValueError:  # an unknown verdict or reason, or the service's Invalid (a ValueError too)
        db.rollback()
        return _review_page(request, db, user, pk, status, flash="review.invalid", status_code=422)
    # Straight on to the next event awaiting a verdict: reviewing is a queue.
    remaining = [e.id for e in queries.review_queue(db, "pending") if e.id != pk]
    later = [p for p in remaining if p > pk]
    if status == "pending" and (later or remaining):
        return pages.see_other(str(request.app.url_path_for("web_review_event", pk=str((later or remaining)[0]))))
    return pages.see_other(str(request.app.url_path_for("web_review_event", pk=str(pk))), status=status)
