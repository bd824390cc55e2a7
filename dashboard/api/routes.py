"""All /api/v1 routers in one."""

from __future__ import annotations

from fastapi import APIRouter

from dashboard.api import admin, auth_routes, events, evidence, people, places

API_PREFIX = "/api/v1"

router = APIRouter(prefix=API_PREFIX)
for module in (auth_routes, events, people, places, admin, evidence):
    router.include_router(module.router)
