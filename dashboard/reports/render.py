"""Print-friendly HTML fragment of a month report, with an on-post-rate-by-day chart as inline SVG.

No JavaScript: the chart is plain SVG generated here (one bar per service day, a tooltip per bar), so it
prints and survives a strict Content-Security-Policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from dashboard.reports.model import DayType, MonthReport
from dashboard.reports.tables import NOTES, Kind, Table, tables

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class ChartGeometry:
    width: int = 760
    height: int = 220
    left: int = 44  # room for the y-axis labels
    right: int = 8
    top: int = 12
    bottom: int = 28  # room for the day numbers
    target: float = 0.95  # a dashed reference line


def rate_chart_svg(report: MonthReport, geo: ChartGeometry = ChartGeometry()) -> Markup:
    """Site-wide on-post rate per day (bars); closed days and holidays are marked, days without a base
    (nobody rostered or all on leave / unobserved) are left empty."""
    days = report.site_days
    plot_w = geo.width - geo.left - geo.right
    plot_h = geo.height - geo.top - geo.bottom
    step = plot_w / max(len(days), 1)
    bar_w = max(step * 0.7, 1.0)
    base_y = geo.top + plot_h

    def y(rate: float) -> float:
        return geo.top + plot_h * (1 - rate)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cw-rate-chart" viewBox="0 0 {geo.width} {geo.height}" '
        f'width="{geo.width}" height="{geo.height}" role="img" '
        f'aria-label="每日在岗率 on-post rate by day {report.year}-{report.month:02d}">',
        f"<title>每日在岗率 On-post rate by day {report.year}-{report.month:02d}</title>",
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        ty = y(tick)
        parts.append(f'<line x1="{geo.left}" y1="{ty:.1f}" x2="{geo.width - geo.right}" y2="{ty:.1f}" '
                     'stroke="#ddd" stroke-width="1"/>')
        parts.append(f'<text x="{geo.left - 6}" y="{ty + 4:.1f}" font-size="11" text-anchor="end" '
                     f'fill="#555">{tick:.0%}</text>')
    for i, day in enumerate(days):
        x = geo.left + i * step + (step - bar_w) / 2
        cx = geo.left + i * step + step / 2
        label_color = "#c00" if day.day_type is DayType.HOLIDAY else "#555"
        parts.append(f'<text x="{cx:.1f}" y="{geo.height - 10}" font-size="10" text-anchor="middle" '
                     f'fill="{label_color}">{day.date.day}</text>')
        rate = day.attendance.on_post_rate
        if day.day_type is not DayType.OPEN:
            kind = "节假日 holiday" if day.day_type is DayType.HOLIDAY else "休息 closed"
            parts.append(f'<rect class="closed" x="{x:.1f}" y="{base_y - 3:.1f}" width="{bar_w:.1f}" height="3" '
                         f'fill="#bbb"><title>{day.date.isoformat()} {kind}</title></rect>')
        elif rate is not None:
            top = y(rate)
            color = "#2b7a3d" if rate >= geo.target else "#d08a00" if rate >= 0.8 else "#c0392b"
            present = day.attendance.present.minutes
            base = present / rate if rate else (
                day.attendance.scheduled.minutes - day.attendance.approved_leave.minutes
                - day.attendance.unobserved.minutes
            )
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{top:.1f}" width="{bar_w:.1f}" height="{base_y - top:.1f}" '
                f'fill="{color}"><title>{day.date.isoformat()} {rate:.1%} '
                f'({present:.0f} / {base:.0f} min)</title></rect>'
            )
    ty = y(geo.target)
    parts.append(f'<line x1="{geo.left}" y1="{ty:.1f}" x2="{geo.width - geo.right}" y2="{ty:.1f}" '
                 'stroke="#2b7a3d" stroke-dasharray="4 3" stroke-width="1"/>')
    parts.append(f'<line x1="{geo.left}" y1="{base_y}" x2="{geo.width - geo.right}" y2="{base_y}" '
                 'stroke="#333" stroke-width="1"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # every interpolated value above is a number or a fixed string


def _display(value: object, kind: Kind) -> str:
    if value is None or value == "":
        return ""
    if kind is Kind.PERCENT and isinstance(value, int | float):
        return f"{value:.1%}"
    if kind is Kind.MINUTES and isinstance(value, int | float):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if kind is Kind.DATETIME:
        return value.strftime("%m-%d %H:%M")  # type: ignore[attr-defined]
    return str(value)


def render_html(report: MonthReport, *, views: tuple[str, ...] = ("clerks", "windows", "absences", "violations"),
                download_links: dict[str, str] | None = None) -> str:
    """An HTML fragment (no <html>/<body>) to embed in a page or print."""
    shown: list[Table] = [t for t in tables(report) if t.key in views]
    return _env.get_template("month_report.html").render(
        report=report,
        chart=rate_chart_svg(report),
        tables=shown,
        display=_display,
        numeric=(Kind.INT, Kind.MINUTES, Kind.PERCENT),
        notes=NOTES,
        links=download_links or {},
    )
