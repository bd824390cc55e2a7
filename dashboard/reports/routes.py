"""HTTP access to the monthly reconciliation: JSON, XLSX, CSV and a print-friendly page.

Readers: admin, supervisor, viewer. Without ``year``/``month`` the current month (site time) is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import escape
from pydantic import ValidationError

from dashboard.auth.deps import DbSession, get_ctx, require_roles
from dashboard.auth.scope import current_sites
from dashboard.db.models import User
from dashboard.enums import Role
from dashboard.reports.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, filename, to_csv, to_xlsx
from dashboard.reports.loader import UnknownSite, load_month_input
from dashboard.reports.model import MonthReport
from dashboard.reports.monthly import build_month
from dashboard.reports.render import render_html
from dashboard.reports.schedule import ScheduleError, load_schedule

READ_ROLES = (Role.ADMIN, Role.SUPERVISOR, Role.VIEWER)
Reader = Annotated[User, Depends(require_roles(*READ_ROLES))]
Year = Annotated[int | None, Query(ge=2000, le=2100, description="default: this month")]
Month = Annotated[int | None, Query(ge=1, le=12)]
Site = Annotated[str | None, Query(max_length=64, description="default: the dashboard's site")]
View = Literal["daily", "clerks", "windows", "absences", "violations"]

router = APIRouter(tags=["reports"])


def month_report(request: Request, db: DbSession, site: str | None, year: int | None,
                 month: int | None) -> MonthReport:
    settings = get_ctx(request).settings
    visible = current_sites(db)  # a hall-scoped reader's default is one of their halls
    default = settings.site.site_id if visible is None or settings.site.site_id in visible else min(visible)
    site_id = site or default
    if (year is None) != (month is None):
        raise HTTPException(422, "give both year and month, or neither")
    if year is None or month is None:
        today = datetime.now(UTC).astimezone(ZoneInfo(settings.site.timezone)).date()
        year, month = today.year, today.month
    try:
        schedule = load_schedule(
            settings.state_dir, timezone=settings.site.timezone,
            notice_grace=timedelta(minutes=settings.notice_grace_minutes),
        )
    except ScheduleError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc
    try:
        data = load_month_input(db, site_id=site_id, year=year, month=month, schedule=schedule)
        return build_month(data)
    except UnknownSite as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except (ValidationError, ValueError) as exc:  # inconsistent records, e.g. a clerk rostered twice at once
        raise HTTPException(422, f"cannot reconcile this month: {exc}") from exc


def _download(content: bytes, media_type: str, name: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get("/api/v1/reports/monthly", name="monthly_report", response_model=MonthReport)
def get_monthly(request: Request, db: DbSession, user: Reader, year: Year = None, month: Month = None,
                site: Site = None,
                refs: Annotated[bool, Query(description="false: leave out the drill-down ids (much smaller)")] = True,
                ) -> Any:
    """The month's reconciliation: per clerk per day, month totals per clerk and window, absences and
    confirmed violations, each number with the ids of the records behind it."""
    report = month_report(request, db, site, year, month)
    if refs:
        return report
    return JSONResponse(_without_refs(report.model_dump(mode="json")))


def _without_refs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_refs(v) for k, v in value.items() if k != "refs"}
    if isinstance(value, list):
        return [_without_refs(v) for v in value]
    return value


@router.get("/api/v1/reports/monthly.xlsx", name="monthly_report_xlsx",
            response_class=Response, responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
def get_monthly_xlsx(request: Request, db: DbSession, user: Reader, year: Year = None, month: Month = None,
                     site: Site = None) -> Response:
    report = month_report(request, db, site, year, month)
    return _download(to_xlsx(report), XLSX_MEDIA_TYPE, filename(report, "xlsx"))


@router.get("/api/v1/reports/monthly.csv", name="monthly_report_csv",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def get_monthly_csv(request: Request, db: DbSession, user: Reader, year: Year = None, month: Month = None,
                    site: Site = None, view: View = "daily") -> Response:
    report = month_report(request, db, site, year, month)
    return _download(to_csv(report, view), CSV_MEDIA_TYPE, filename(report, "csv", view))


@router.get("/reports/monthly", name="reports_index", response_class=HTMLResponse)
def monthly_page(request: Request, db: DbSession, user: Reader, year: Year = None, month: Month = None,
                 site: Site = None) -> HTMLResponse:
    """A print-friendly page: month picker (a plain GET form), chart, tables, download links."""
    report = month_report(request, db, site, year, month)
    query = f"year={report.year}&month={report.month}&site={report.site_id}"
    links = {
        "下载 Excel (XLSX)": f"{request.url_for('monthly_report_xlsx').path}?{query}",
        **{f"CSV {v}": f"{request.url_for('monthly_report_csv').path}?{query}&view={v}"
           for v in ("daily", "clerks", "windows", "absences", "violations")},
        "JSON": f"{request.url_for('monthly_report').path}?{query}",
    }
    picker = (
        '<form method="get" class="month-picker">'
        f'<label>年 Year <input type="number" name="year" value="{report.year}" min="2000" max="2100"></label> '
        f'<label>月 Month <input type="number" name="month" value="{report.month}" min="1" max="12"></label> '
        f'<input type="hidden" name="site" value="{escape(report.site_id)}">'
        '<button type="submit">查看 Show</button></form>'
    )
    body = render_html(report, views=("clerks", "windows", "daily", "absences", "violations"),
                       download_links=links)
    title = escape(f"{report.site_name} {report.year}-{report.month:02d} 考勤核对 Attendance")
    html = (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<style>body{margin:16px} .month-picker{margin-bottom:12px} @media print{.month-picker{display:none}}'
        "</style></head>"
        f"<body>{picker}{body}</body></html>"
    )
    return HTMLResponse(html)
