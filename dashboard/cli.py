"""``counterwatch dashboard serve|ingest|migrate|create-user|add-device|retention|export-clerk|seed``."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import secrets
import signal
import sys
import threading
from typing import Any

from common.config import ConfigError, load_settings
from dashboard.settings import DashboardSettings

log = logging.getLogger("counterwatch.dashboard")


def _settings(args: argparse.Namespace) -> DashboardSettings:
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "host", None):
        overrides["http_host"] = args.host
    if getattr(args, "port", None):
        overrides["http_port"] = args.port
    return load_settings(DashboardSettings, args.config, **overrides)


def _ssl_options(settings: DashboardSettings) -> dict[str, str]:
    """uvicorn's TLS arguments when the dashboard serves HTTPS itself (``tls.certfile``/``tls.keyfile``)."""
    tls = settings.tls
    if tls.certfile is None or tls.keyfile is None:
        return {}
    for name, path in (("tls.certfile", tls.certfile), ("tls.keyfile", tls.keyfile)):
        if not path.is_file():
            raise ConfigError(f"{name}: {path} does not exist (make it with `counterwatch broker make-certs "
                              "--dashboard-host NAME`, docs/tls.md)")
    return {"ssl_certfile": str(tls.certfile), "ssl_keyfile": str(tls.keyfile)}


def serve(settings: DashboardSettings, *, ingest: bool = True) -> int:
    """The API/web server with the MQTT ingest and the retention job beside it (their own threads),
    until SIGINT/SIGTERM."""
    import uvicorn

    from dashboard.app import create_app
    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.ingest.consumer import IngestConsumer
    from dashboard.retention import RetentionScheduler

    ssl_options = _ssl_options(settings)  # before anything starts: a missing certificate is a config error
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    consumer = IngestConsumer.from_settings(settings, db).start(wait_connected=5) if ingest else None
    app = create_app(settings.model_copy(update={"run_migrations": False}), db=db,
                     publisher=consumer.publish if consumer else None)
    if consumer is not None:
        app.state.ctx.extras["ingest"] = consumer
    retention = None
    if settings.retention.schedule:
        retention = RetentionScheduler(db, app.state.ctx.evidence, settings.retention).start()
        app.state.ctx.extras["retention"] = retention
    try:
        # Behind a TLS proxy, take the client address from its X-Forwarded-For (only when the proxy is one
        # of uvicorn's forwarded_allow_ips, 127.0.0.1 by default): login rate limits and the audit log
        # need the real address, not the proxy's.
        uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="info",
                    proxy_headers=settings.tls.behind_proxy, **ssl_options)  # type: ignore[arg-type]
    finally:
        if retention is not None:
            retention.stop()
        if consumer is not None:
            consumer.stop()
        db.dispose()
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.retention import run_retention
    from dashboard.storage import open_evidence_store

    settings = _settings(args)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        report = run_retention(db, open_evidence_store(settings), settings.retention, dry_run=args.dry_run,
                               actor="cli:retention")
    finally:
        db.dispose()
    print(json.dumps(report.as_json(), ensure_ascii=False))
    return 1 if report.failed else 0


def cmd_export_clerk(args: argparse.Namespace) -> int:
    from dashboard.db.audit import audit
    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.privacy import ClerkNotFound, clerk_export, write_export_zip
    from dashboard.storage import open_evidence_store

    settings = _settings(args)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            try:
                export = clerk_export(s, args.employee_no)
            except ClerkNotFound as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            files = write_export_zip(export, open_evidence_store(settings) if args.with_evidence else None,
                                     args.out)
            audit(s, "cli", "export", "staff", export.staff_id,
                  {"employee_no": args.employee_no, "evidence_files": files, "format": "zip"})
    finally:
        db.dispose()
    print(json.dumps({"out": args.out, "evidence_files": len(files)}))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    return serve(_settings(args), ingest=not args.no_ingest)


def cmd_ingest(args: argparse.Namespace) -> int:
    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.ingest.consumer import IngestConsumer

    settings = _settings(args)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    consumer = IngestConsumer.from_settings(settings, db).start()
    log.info("ingesting from %s:%d into %s", settings.mqtt.host, settings.mqtt.port, db.engine.url)
    while not stop.wait(30):
        log.info("ingest: %s", json.dumps(consumer.stats.counts, sort_keys=True))
    consumer.stop()
    db.dispose()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from dashboard.db.migrate import upgrade

    settings = _settings(args)
    upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from dashboard.auth.users import create_user
    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.enums import Role

    settings = _settings(args)
    upgrade(settings.database_url)
    password = args.password
    generated = False
    if password is None and sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.username} (empty: generate one): ") or None
    if password is None:
        password, generated = secrets.token_urlsafe(16), True
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            create_user(s, args.username, password, Role(args.role), args.display_name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(json.dumps({"username": args.username, "role": args.role,
                      "password": password if generated else "(as entered)"}, ensure_ascii=False))
    return 0


def _camera_spec(text: str) -> Any:
    from dashboard.registry import CameraSpec

    code, _, windows = text.partition(":")
    return CameraSpec(code, tuple(w for w in windows.split(",") if w))


def cmd_add_device(args: argparse.Namespace) -> int:
    from dashboard.db.audit import audit
    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.registry import register_device

    settings = _settings(args)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            registered = register_device(s, args.site, args.device, [_camera_spec(c) for c in args.camera or []],
                                         name=args.name)
            audit(s, "cli", "register", "device", args.device, {"site": args.site})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(json.dumps({"site": args.site, "device": args.device, "upload_token": registered.upload_token}))
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.seed import seed_from_settings

    settings = _settings(args)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        print(json.dumps(asdict(seed_from_settings(settings, db, days=args.days)), ensure_ascii=False))
    finally:
        db.dispose()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("dashboard", help="central dashboard: ingest, API, web UI")
    parser.add_argument("--config", help="YAML settings file (else $CW_CONFIG)")
    parser.add_argument("--database-url", help="overrides CW_DASHBOARD_DATABASE_URL")
    cmds = parser.add_subparsers(dest="dashboard_command", required=True)

    serve_p = cmds.add_parser("serve", help="HTTP API + web UI, with the MQTT ingest beside it")
    serve_p.add_argument("--host")
    serve_p.add_argument("--port", type=int)
    serve_p.add_argument("--no-ingest", action="store_true", help="serve only; run the ingest elsewhere")
    serve_p.set_defaults(handler=cmd_serve)

    cmds.add_parser("ingest", help="only the MQTT ingest").set_defaults(handler=cmd_ingest)

    migrate = cmds.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(handler=cmd_migrate)

    user = cmds.add_parser("create-user", help="add a user (password prompted, or generated and printed)")
    user.add_argument("username")
    user.add_argument("--role", choices=["admin", "supervisor", "duty", "viewer"], default="viewer")
    user.add_argument("--password")
    user.add_argument("--display-name")
    user.set_defaults(handler=cmd_create_user)

    device = cmds.add_parser("add-device", help="register a device; prints its evidence upload token")
    device.add_argument("--site", required=True)
    device.add_argument("--device", required=True)
    device.add_argument("--name")
    device.add_argument("--camera", action="append", metavar="CAM[:WIN,WIN]",
                        help="a camera and the windows it watches, e.g. cam1:w01,w02 (repeatable)")
    device.set_defaults(handler=cmd_add_device)

    retention = cmds.add_parser("retention", help="delete evidence past its retention period (retention.*)")
    retention.add_argument("--dry-run", action="store_true", help="only list what is due; change nothing")
    retention.set_defaults(handler=cmd_retention)

    export = cmds.add_parser("export-clerk", help="one clerk's data (subject access request) as a ZIP")
    export.add_argument("employee_no")
    export.add_argument("--out", required=True, help="ZIP file to write")
    export.add_argument("--with-evidence", action="store_true", help="include the evidence files of their events")
    export.set_defaults(handler=cmd_export_clerk)

    seed = cmds.add_parser("seed", help="demo site hall1 with windows, staff and rosters")
    seed.add_argument("--days", type=int, default=7)
    seed.set_defaults(handler=cmd_seed)
