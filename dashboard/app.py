"""The dashboard's FastAPI application: ``create_app(settings)``.

Startup runs the Alembic migrations (``upgrade head``), opens the evidence store, creates the first admin
when there is no user (a generated password is printed once) and mounts the API, plus the web pages and
the reports when those packages are installed beside this one."""

from __future__ import annotations

import importlib
import logging
import os
import secrets
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError

from common import __version__
from dashboard.api.routes import router as api_router
from dashboard.auth.deps import current_user, optional_user
from dashboard.auth.ratelimit import LimiterPolicy, LoginLimiter
from dashboard.auth.scope import OutOfScope
from dashboard.auth.sessions import SessionCodec
from dashboard.auth.users import ensure_first_admin
from dashboard.context import AppContext, Publisher
from dashboard.db.engine import Database
from dashboard.db.migrate import upgrade
from dashboard.db.models import User
from dashboard.registry import ensure_site
from dashboard.security import install_security_headers
from dashboard.settings import DashboardSettings
from dashboard.storage import open_evidence_store
from dashboard.storage.evidence import EvidenceStore, StoreUnavailable

log = logging.getLogger("counterwatch.dashboard")

OPTIONAL_ROUTERS = ("dashboard.web.routes", "dashboard.reports.routes")


def session_secret(settings: DashboardSettings) -> str:
    """The configured secret, else one generated once into the state directory (kept across restarts)."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    path = settings.state_dir / "session_secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret


OPENAPI_URL = "/api/v1/openapi.json"


def document_handler_errors(app: FastAPI) -> None:
    """Handlers answer 422 with ``{"detail": "<message>"}`` (a reference to a missing record, a leave the
    policy refuses) besides FastAPI's list of validation errors: document both shapes, so the schema says
    what the API does."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        props = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError", {}).get("properties")
        if props and "detail" in props:
            props["detail"] = {"anyOf": [props["detail"], {"type": "string"}], "title": "Detail"}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_signed_in_docs(app: FastAPI) -> None:
    """``api_docs: login``: the OpenAPI document, Swagger UI and ReDoc for signed-in users only (an anonymous
    visitor gets no map of the API)."""

    @app.get(OPENAPI_URL, include_in_schema=False)
    def openapi_json(_user: User = Depends(current_user)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def swagger(user: User | None = Depends(optional_user)) -> Response:
        if user is None:
            return RedirectResponse("/login?next=/docs", status_code=303)
        return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{app.title} — API")

    @app.get("/redoc", include_in_schema=False)
    def redoc(user: User | None = Depends(optional_user)) -> Response:
        if user is None:
            return RedirectResponse("/login?next=/redoc", status_code=303)
        return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{app.title} — API")


def limiter_policy(settings: DashboardSettings) -> LimiterPolicy:
    return LimiterPolicy(
        free_failures=settings.login_max_failures, base_s=settings.login_backoff_base_s,
        max_s=float(settings.login_window_s),
        user_free_failures=settings.login_user_max_failures, ip_burst=settings.login_ip_burst,
        ip_per_minute=settings.login_ip_per_minute, max_concurrent_hashes=settings.login_max_concurrent_hashes,
        hash_wait_s=settings.login_hash_wait_s, max_entries=settings.login_limiter_entries,
    )


def bootstrap(settings: DashboardSettings, db: Database) -> None:
    """Default site and first admin (idempotent)."""
    with db.session() as s:
        ensure_site(s, settings.site.site_id, settings.site.name, settings.site.timezone)
        password = settings.admin_password.get_secret_value() if settings.admin_password else None
        created = ensure_first_admin(s, settings.admin_username, password)
    if created is not None:
        shown = f" password {created.generated_password!r} (shown once)" if created.generated_password else ""
        banner = f"first admin created: username {created.username!r}{shown}"
        log.warning(banner)
        if created.generated_password:
            print(banner, flush=True)


def create_app(
    settings: DashboardSettings,
    *,
    db: Database | None = None,
    evidence: EvidenceStore | None = None,
    publisher: Publisher | None = None,
) -> FastAPI:
    if settings.run_migrations:
        upgrade(settings.database_url)
    db = db or Database(settings.database_url)
    bootstrap(settings, db)
    ctx = AppContext(
        settings=settings,
        db=db,
        evidence=evidence or open_evidence_store(settings),
        sessions=SessionCodec(session_secret(settings), settings.session_max_age_s, settings.https, db),
        login_limiter=LoginLimiter(limiter_policy(settings)),
        publisher=publisher,
    )
    public_docs = settings.api_docs == "public"
    app = FastAPI(
        title="CounterWatch dashboard",
        version=__version__,
        description="窗口在岗监测 — events, alerts, reviews, leave, off-post notices, evidence.",
        openapi_url=OPENAPI_URL if public_docs else None,
        docs_url="/docs" if public_docs else None,
        redoc_url="/redoc" if public_docs else None,
    )
    app.state.ctx = ctx
    document_handler_errors(app)
    if settings.api_docs == "login":
        install_signed_in_docs(app)
    install_security_headers(app, hsts=settings.https)
    app.include_router(api_router)

    @app.exception_handler(StoreUnavailable)
    def store_unavailable(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        # The bucket or volume is down: say so, and let clients retry (nothing was recorded half-way).
        log.warning("%s", exc.strerror)
        return JSONResponse({"detail": exc.strerror}, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(OutOfScope)
    def out_of_scope(_request: Request, exc: OutOfScope) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(DataError)
    def data_error(_request: Request, exc: DataError) -> JSONResponse:
        # Input the database cannot hold (a NUL byte in text, a number out of range) is the client's error.
        log.info("refused input the database cannot store: %s", exc.orig)
        return JSONResponse({"detail": f"invalid value: {str(exc.orig).splitlines()[0]}"}, status_code=422)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for module_name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # that part is not installed: run without it
            log.exception("%s could not be loaded; the dashboard runs without it", module_name)
            continue
        except Exception:  # a broken optional part must not take the API and the ingest down with it
            log.exception("%s could not be loaded; the dashboard runs without it", module_name)
            continue
        app.include_router(module.router)
    return app
