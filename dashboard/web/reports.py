"""The reports page: the way in to what dashboard.reports builds."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from dashboard.auth.deps import DbSession, ReportReader
from dashboard.web import admin, pages
from dashboard.web.render import render

router = pages.page_router()


@router.get("/reports", name="web_reports")
def reports_page(request: Request, db: DbSession, user: ReportReader) -> Response:
    ctx = pages.page_context(request, db, user, "reports", "reports.title")
    ctx.update(report_links=admin.report_links(request))
    return render("reports.html", ctx)
