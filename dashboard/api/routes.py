"""All /api/v1 routers in one."""

from __future__ import annotations

from fastapi import APIRouter

from dashboard.api import admin, auth_routes, events, evidence, people, places, reviews, scope_routes
from dashboard.api import privacy as privacy_api

API_PREFIX = "/api/v1"

router = APIRouter(prefix=API_PREFIX)
for module in (auth_routes, events, people, places, admin, evidence, reviews):
    router.include_router(module.router)
router.include_router(privacy_api.router)
router.include_router(scope_routes.router)
