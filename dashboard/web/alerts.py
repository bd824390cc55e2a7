"""The alert list (live), and acknowledging an alert: through dashboard.services, as the API does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from broker.payloads import Rule
from dashboard.api.common import IdPath
from dashboard.auth.deps import ACK_ROLES, REVIEW_ROLES, Acknowledger, AnyUser, DbSession, actor, get_ctx
from dashboard.db.models import User
from dashboard.services import alerts as alert_service
from dashboard.web import pages, queries
from dashboard.web.i18n import catalogue
from dashboard.web.pages import ESCALATION_RECHECK_S, LIVE_PING_S, LIVE_POLL_S
from dashboard.web.render import base_context, render, render_fragment, request_language

router = pages.page_router()
live = pages.live_router()


def _alert_filter(window: str | None, rule: str | None, status: str | None) -> queries.AlertFilter:
    valid_rules = {r.value for r in Rule}
    return queries.AlertFilter(
        window=int(window) if window and window.isdigit() and len(window) < 10 else None,
        rule=rule if rule in valid_rules else None,
        status=status if status in ("all", "escalated") else "open",
    )


def _alert_context(ctx: dict[str, Any], user: User) -> dict[str, Any]:
    ctx.update(can_ack=user.role in ACK_ROLES, can_review=user.role in REVIEW_ROLES)
    return ctx


@router.get("/alerts", name="web_alerts")
def alerts_page(
    request: Request, db: DbSession, user: AnyUser, window: str | None = None, rule: str | None = None,
    status: str | None = None,
) -> Response:
    flt = _alert_filter(window, rule, status)
    rows = queries.alerts(db, flt, pages.now(), pages.escalation(request))
    ctx = _alert_context(pages.page_context(request, db, user, "alerts", "alerts.title"), user)
    after = max((a.pk for a in rows), default=queries.latest_event_pk(db))
    live_query = urlencode({"window": flt.window or "", "rule": flt.rule or "", "status": flt.status,
                            "after": after})
    ctx.update(alerts=rows, filters=flt, all_windows=queries.windows(db), rules=[r.value for r in Rule],
               escalation_minutes=get_ctx(request).settings.escalation_minutes,
               live_url=f"{request.app.url_path_for('web_live_alerts')}?{live_query}", next_url=request.url.path)
    return render("alerts.html", ctx)


@live.get("/live/alerts", name="web_live_alerts")
def live_alerts(
    request: Request, user: AnyUser, window: str | None = None, rule: str | None = None,
    status: str | None = None, after: int = 0, counts_only: bool = False,
) -> Response:
    """New and changed alerts as server-rendered rows. A row the page already shows is re-sent when it
    changes (acknowledged elsewhere, ended, escalated, reviewed); rows newer than ``after`` are new.
    ``counts_only``: just the menu badges (every other page keeps them current this way)."""
    app = get_ctx(request)
    flt = _alert_filter(window, rule, status)
    wide = replace(flt, status="all")  # still follow rows that leave the "open" filter once acknowledged
    escalation = pages.escalation(request)
    cat = catalogue(request_language(request))

    def matches(a: queries.AlertView) -> bool:
        if flt.status == "all":
            return True
        return a.acked_at is None and (flt.status == "open" or a.escalated)

    def poll(known: tuple[Any, ...] | None) -> tuple[tuple[Any, ...], list[queries.AlertView] | None, dict[str, int]]:
        """The full query only when the version token moved (or escalation may have changed a row)."""
        with app.db.session() as db:
            version = queries.alerts_version(db)
            if version == known:
                return version, None, {}
            return version, queries.alerts(db, wide, pages.now(), escalation), pages.nav_counts(db, request)

    async def updates() -> AsyncIterator[str]:
        shown: dict[int, tuple[Any, ...]] = {}
        counts: dict[str, int] = {}
        first, idle, since_full = True, 0.0, 0.0
        version: tuple[Any, ...] | None = None
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            # Escalation is a matter of time passing, not of a write: look again fully every few seconds.
            known = version if since_full < ESCALATION_RECHECK_S else None
            version, polled, new_counts = await run_in_threadpool(poll, known)
            since_full = since_full + LIVE_POLL_S if polled is None else 0.0
            rows = [] if counts_only else (polled or [])
            sent = False
            for a in reversed(rows):  # oldest first: prepending leaves the newest on top
                if first and a.pk <= after:
                    if matches(a):
                        shown[a.pk] = a.fingerprint()  # already rendered by the page
                    continue
                if a.pk not in shown and not matches(a):
                    continue  # not on the page and not wanted there (yet: an alert may still escalate)
                if shown.get(a.pk) == a.fingerprint():
                    continue
                is_new = a.pk not in shown
                shown[a.pk] = a.fingerprint()
                ctx = _alert_context(base_context(request, user, "alerts", "alerts.title"), user)
                ctx.update(a=a, next_url="/alerts")
                yield pages.sse("row", {
                    "html": render_fragment("partials/alert_row.html", ctx),
                    "alert": is_new and a.acked_at is None,
                    "announce": cat.t("alerts.announce", rule=cat.t(f"rule.{a.rule}"), window=a.window),
                })
                sent = True
            for name, value in new_counts.items():  # empty when nothing changed
                if counts.get(name) != value:
                    yield pages.sse("count", {"name": name, "value": value})
                    sent = True
            counts, first = (new_counts or counts), False
            idle = 0.0 if sent else idle + LIVE_POLL_S
            if idle >= LIVE_PING_S:
                yield ": ping\n\n"
                idle = 0.0
            await asyncio.sleep(LIVE_POLL_S)

    return pages.stream(updates())


@router.post("/alerts/{pk}/ack", name="web_alert_ack")
def alert_ack(
    request: Request, db: DbSession, user: Acknowledger, pk: IdPath, note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Idempotent, as in the API: a repeat keeps the first acknowledgement and shows it."""
    event = alert_service.event_by_pk(db, pk)
    alert_service.acknowledge(db, event, actor(request, user), note)
    if request.headers.get("x-requested-with") == "fetch":
        view = queries.alert(db, pk, pages.now(), pages.escalation(request))
        ctx = _alert_context(base_context(request, user, "alerts", "alerts.title"), user)
        ctx.update(a=view, next_url=next)
        return Response(render_fragment("partials/alert_row.html", ctx), media_type="text/html")
    return pages.see_other(pages.safe_next(next or "/alerts"))
