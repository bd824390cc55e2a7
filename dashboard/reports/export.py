"""Spreadsheet exports of a month report: one XLSX workbook (a sheet per view) and CSV per view.

XLSX: zh-CN header row, English header row below it, both frozen; number, percent and date/time formats;
column widths. CSV: UTF-8 with a BOM (so Excel opens Chinese text correctly), one header row
"中文 English", minutes as plain numbers, rates as percentages, local times as ``YYYY-MM-DD HH:MM``.

Names and other text come from users (a supervisor names a clerk ``=cmd|' /C calc'!A0``): a spreadsheet must
never run them. CSV text cells that start with ``= + - @``, tab or CR get a leading ``'`` (OWASP CSV
injection); XLSX text is always written as a string cell, never as a formula, marked "quote prefix" when it
would look like one (Excel shows the text unchanged and treats it as text).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from dashboard.reports.model import MonthReport
from dashboard.reports.tables import NOTES, Cell, Kind, Table, table, tables

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

NUMBER_FORMATS = {
    Kind.INT: "0",
    Kind.MINUTES: "#,##0.0",
    Kind.PERCENT: "0.0%",
    Kind.DATE: "yyyy-mm-dd",
    Kind.DATETIME: "yyyy-mm-dd hh:mm",
}
_HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_WRAP = Alignment(wrap_text=True, vertical="top")


# What makes Excel, LibreOffice or Google Sheets read a cell as a formula (or DDE) rather than text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A CSV cell that no spreadsheet evaluates."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def xml_safe(text: str) -> str:
    """Control characters that XML 1.0 cannot carry (a name may hold any) become U+FFFD."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)


def text_cell(ws: Any, text: str) -> WriteOnlyCell:
    """A string cell, whatever the text looks like (openpyxl writes ``=...`` as a formula otherwise)."""
    cell = WriteOnlyCell(ws, xml_safe(text))
    cell.data_type = "s"
    if text.startswith(FORMULA_TRIGGERS):
        cell.quotePrefix = True
    return cell


def sheet_title(t: Table) -> str:
    return f"{t.zh} {t.en}"[:31]  # Excel's limit


def to_xlsx(report: MonthReport) -> bytes:
    # Write-only mode streams rows instead of holding a cell object per value (4x faster on a big month).
    wb = Workbook(write_only=True)
    for t in tables(report):
        _write_sheet(wb, t)
    _write_notes(wb, report)
    wb.properties.title = xml_safe(f"{report.site_name} {report.year}-{report.month:02d} 考勤对账 attendance")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _header(ws: Any, text: str, bold: bool) -> WriteOnlyCell:
    cell = text_cell(ws, text)
    cell.font = Font(bold=bold)
    cell.fill = _HEADER_FILL
    cell.alignment = _CENTER
    return cell


def _write_sheet(wb: Workbook, t: Table) -> None:
    ws = wb.create_sheet(sheet_title(t))
    # Sheet layout must be set before the first row is written.
    ws.freeze_panes = "A3"
    for i, col in enumerate(t.columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(col.width, len(col.en) + 2)
    if t.rows:
        ws.auto_filter.ref = f"A2:{get_column_letter(len(t.columns))}{len(t.rows) + 2}"
    ws.append([_header(ws, c.zh, True) for c in t.columns])
    ws.append([_header(ws, c.en, False) for c in t.columns])
    formats = [NUMBER_FORMATS.get(c.kind) for c in t.columns]
    for row in t.rows:
        ws.append([_formatted(ws, v, f) for v, f in zip(row, formats, strict=True)])


def _formatted(ws: Any, value: Cell, fmt: str | None) -> Any:
    if isinstance(value, str):
        return text_cell(ws, value)
    if fmt is None or value is None:
        return value
    cell = WriteOnlyCell(ws, value)
    cell.number_format = fmt
    return cell


def _write_notes(wb: Workbook, report: MonthReport) -> None:
    ws = wb.create_sheet("说明 Notes")
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 120
    ws.append([_header(ws, "项目 Item", True), _header(ws, "说明 Definition", True)])
    rows = [
        ("站点 Site", f"{report.site_name} ({report.site_id})"),
        ("月份 Month", f"{report.year}-{report.month:02d}"),
        ("时区 Time zone", report.timezone),
        *NOTES,
    ]
    for item, text in rows:
        cell = text_cell(ws, text)
        cell.alignment = _WRAP
        ws.append([text_cell(ws, item), cell])


def csv_cell(value: Cell, kind: Kind) -> str:
    if value is None:
        return ""
    if kind is Kind.PERCENT and isinstance(value, int | float):
        return f"{value * 100:.2f}%"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(value) if isinstance(value, str) else str(value)


def table_to_csv(t: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in t.columns])
    for row in t.rows:
        writer.writerow([csv_cell(v, c.kind) for v, c in zip(row, t.columns, strict=True)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_csv(report: MonthReport, view: str = "daily") -> bytes:
    return table_to_csv(table(report, view))


def filename(report: MonthReport, ext: str, view: str | None = None) -> str:
    stem = f"attendance-{report.site_id}-{report.year}-{report.month:02d}"
    return f"{stem}-{view}.{ext}" if view else f"{stem}.{ext}"
