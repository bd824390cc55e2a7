"""Path ids no row can have are refused before they reach the database: 404 or 422, never a 500.

An unbounded ``int`` in a path sent ``/review/99999999999999999999`` to SQLite (OverflowError) or
PostgreSQL (NumericValueOutOfRange) and the request died with a 500. Every integer path parameter, API
and web alike, now uses the one bounded type (dashboard.api.common.IdPath).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from annotated_types import Ge, Le
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from dashboard.api.common import MAX_ID
from dashboard.enums import Role
from tests.dashboard.helpers import ApiUsers
from tests.web.support import csrf, page_client

pytestmark = [pytest.mark.integration, pytest.mark.db]

HUGE = "99999999999999999999"  # > 2**64: no database integer can hold it
# The routes the issue named (each answered 500 before).
NAMED = {("GET", "/review/{pk}"), ("GET", "/admin/cameras/{camera_id}/zones"), ("POST", "/alerts/{pk}/ack"),
         ("POST", "/leave/{leave_id}/decision")}
# What each integer-id route needs besides its id to get as far as looking the row up.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/staff/{staff_id}"): {"json": {}},
    ("PATCH", "/api/v1/leave/{leave_id}"): {"json": {}},
    ("PATCH", "/api/v1/notices/{notice_id}"): {"json": {}},
    ("PATCH", "/api/v1/users/{user_id}"): {"json": {}},
    ("PUT", "/api/v1/users/{user_id}/sites"): {"json": {"sites": []}},
    ("POST", "/review/{pk}"): {"data": {"verdict": "confirm"}},
    ("POST", "/leave/{leave_id}/decision"): {"data": {"decision": "approved"}},
    ("POST", "/notices/{notice_id}"): {"data": {"minutes": "10"}},
    ("POST", "/admin/cameras/{camera_id}/zones"): {"data": {"zones": "[]"}},
}


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # an included router (FastAPI keeps the tree)
            included: Any = route
            yield from _walk(included.original_router.routes, prefix + included.include_context.prefix)


def _path_params(dependant: Dependant) -> list[Any]:
    found = list(dependant.path_params)
    for sub in dependant.dependencies:
        found += _path_params(sub)
    return found


def _routes_with_ids(application: FastAPI) -> list[tuple[str, str, APIRoute, bool]]:
    """(method, path, route, has an integer id) for every route with a path parameter."""
    out = []
    for path, route in _walk(application.router.routes):
        params = _path_params(route.dependant)
        if not params or "{path:path}" in path:
            continue
        has_int = any(p.field_info.annotation is int for p in params)
        out += [(method, path, route, has_int) for method in sorted((route.methods or set()) - {"HEAD"})]
    return out


def _url(path: str, value: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", value, path)


def test_every_integer_path_parameter_is_the_bounded_id(app: FastAPI) -> None:
    found = _routes_with_ids(app)
    int_routes = {(m, p) for m, p, _, has_int in found if has_int}
    assert int_routes >= NAMED
    assert len(int_routes) >= 17  # API and web together: the walk really saw the whole application
    for method, path, route, _ in found:
        for param in _path_params(route.dependant):
            if param.field_info.annotation is int:
                bounds = param.field_info.metadata
                assert Ge(1) in bounds and Le(MAX_ID) in bounds, (method, path, param.name)
            else:
                assert any(getattr(b, "max_length", None) for b in param.field_info.metadata) or \
                    path.startswith(("/admin/{section}", "/api/v1/evidence/")), (method, path, param.name)


def test_a_huge_id_is_refused_on_every_route(app: FastAPI, api: ApiUsers) -> None:
    admin = api.client(Role.ADMIN)
    answers = {}
    for method, path, _, has_int in _routes_with_ids(app):
        r = admin.request(method, _url(path, HUGE), **BODIES.get((method, path), {}))
        answers[(method, path)] = r.status_code
        assert r.status_code < 500, (method, path, r.status_code, r.text[:200])
        if has_int:
            assert r.status_code in (404, 422), (method, path, r.status_code)


def test_an_id_in_range_that_names_no_row_is_404(app: FastAPI, api: ApiUsers) -> None:
    admin = api.client(Role.ADMIN)
    for method, path, _, has_int in _routes_with_ids(app):
        if not has_int:
            continue
        r = admin.request(method, _url(path, str(MAX_ID)), **BODIES.get((method, path), {}))
        assert r.status_code == 404, (method, path, r.status_code, r.text[:200])


def test_the_pages_named_in_the_issue_answer_with_the_not_found_page(app: FastAPI) -> None:
    boss: TestClient = page_client(app, "boss", Role.ADMIN)
    token = csrf(boss)
    for value in (HUGE, str(MAX_ID), "0", "-1"):
        for r in (boss.get(f"/review/{value}"), boss.get(f"/admin/cameras/{value}/zones"),
                  boss.post(f"/alerts/{value}/ack", data={"csrf_token": token}),
                  boss.post(f"/leave/{value}/decision", data={"decision": "approved", "csrf_token": token})):
            assert r.status_code == 404, (r.request.url, r.status_code, r.text[:200])
            assert "未找到" in r.text  # the translated page, not a stack trace or JSON
