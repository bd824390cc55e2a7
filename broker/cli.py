"""``counterwatch broker ...``"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from broker.credentials import Registry, Role
from broker.mosquitto import BrokerConfig, MosquittoProcess, TlsFiles, mosquitto_binary, write_files
from broker.settings import BrokerSettings
from common.config import ConfigError, load_settings

log = logging.getLogger("counterwatch.broker")


def broker_config(settings: BrokerSettings) -> BrokerConfig:
    tls = None
    if settings.tls_cafile and settings.tls_certfile and settings.tls_keyfile:
        tls = TlsFiles(settings.tls_cafile, settings.tls_certfile, settings.tls_keyfile,
                       require_certificate=settings.tls_require_certificate)
    return BrokerConfig(
        data_dir=settings.data_dir.resolve(),
        host=settings.host,
        port=settings.port,
        max_queued_messages=settings.max_queued_messages,
        tls=tls,
        tls_port=settings.tls_port,
        plain_listener=settings.plain_listener,
        extra=bridge_lines(settings),
    )


def bridge_lines(settings: BrokerSettings) -> list[str]:
    from broker.bridge import Bridge, BridgeTls, render_bridge

    b = settings.bridge
    if b is None:
        return []
    try:
        tls = BridgeTls(b.tls.ca, b.tls.cert, b.tls.key) if b.tls is not None and b.tls.ca is not None else None
        return render_bridge(Bridge(site=b.site, addresses=b.addresses, remote_username=b.username,
                                    remote_password=b.password.get_secret_value(), tls=tls,
                                    keepalive_s=b.keepalive_s))
    except ValueError as exc:
        raise ConfigError(f"bridge: {exc}") from None


def _settings(args: argparse.Namespace) -> BrokerSettings:
    return load_settings(BrokerSettings, args.config, data_dir=args.data_dir, port=getattr(args, "port", None))


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    cfg = broker_config(settings)
    registry = Registry.load(cfg.registry_file)
    write_files(cfg, registry)
    engine = settings.engine
    if engine == "auto":
        engine = "mosquitto" if mosquitto_binary() else "embedded"
    log.info("broker engine=%s listening on %s:%d (data %s)", engine, cfg.host, cfg.port, cfg.data_dir)
    if engine == "embedded":
        from broker.embedded import serve_embedded

        if settings.bridge is not None:
            raise ConfigError("bridge: only Mosquitto bridges to a central broker; install mosquitto")

        serve_embedded(cfg)
        return 0
    proc = MosquittoProcess(cfg, log_path=cfg.data_dir / "mosquitto.log").start()
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # Re-render and reload when the registry changes (device added or rotated): no restart. Mosquitto
    # re-checks live connections on reload; a rotation adds a login and keeps the old one until
    # ``rotate --finish``, so no live connection is dropped by it.
    mtime = cfg.registry_file.stat().st_mtime if cfg.registry_file.exists() else 0.0
    while not stop and proc.running:
        time.sleep(1.0)
        current = cfg.registry_file.stat().st_mtime if cfg.registry_file.exists() else 0.0
        if current != mtime:
            mtime = current
            write_files(cfg, Registry.load(cfg.registry_file))
            proc.reload()
            log.info("identities changed: password and ACL files reloaded")
    proc.stop()
    if not stop:
        log.error("mosquitto exited on its own; see %s", proc.log_path)
        return 1
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    cfg = broker_config(_settings(args))
    registry = Registry.load(cfg.registry_file)
    try:
        password = registry.add(args.username, Role(args.role), site=args.site, password=args.password)
    except ValueError as exc:  # bad name or a device without its site: say so, change nothing
        print(f"add-identity: {exc}", file=sys.stderr)
        return 2
    registry.save(cfg.registry_file)
    write_files(cfg, registry)
    print(json.dumps({"username": args.username, "role": args.role, "site": args.site, "password": password}))
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    cfg = broker_config(_settings(args))
    registry = Registry.load(cfg.registry_file)
    if args.username not in registry.identities:
        print(f"unknown identity {args.username!r}", file=sys.stderr)
        return 2
    login: str | None = registry.identities[args.username].current_login
    password: str | None = None
    if args.finish:
        registry.finish_rotation(args.username)
    else:
        try:
            login, password = registry.rotate(args.username)
        except ValueError as exc:
            print(f"rotate: {exc}", file=sys.stderr)
            return 2
    registry.save(cfg.registry_file)
    write_files(cfg, registry)
    # The device logs in with ``login`` + ``password`` from now on (edge: mqtt.username / mqtt.password);
    # its previous login keeps working until ``rotate --finish``.
    print(json.dumps({"username": args.username, "login": login, "password": password}))
    return 0


def cmd_export_schemas(args: argparse.Namespace) -> int:
    from broker.schemas import write_schemas

    for path in write_schemas(Path(args.out) if args.out else None):
        print(path)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """Write mosquitto.conf, passwd and acl for a Mosquitto run elsewhere (the eclipse-mosquitto container)."""
    cfg = broker_config(_settings(args))
    write_files(cfg, Registry.load(cfg.registry_file))
    print(cfg.config_file)
    return 0


def cmd_make_certs(args: argparse.Namespace) -> int:
    from broker.tls import CertificateError, make_certificates

    try:
        certs = make_certificates(Path(args.out), args.host, args.device, dashboard_hosts=args.dashboard_host,
                                  renew=args.renew)
    except (CertificateError, ValueError) as exc:
        print(f"make-certs: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({
        "ca": str(certs.ca_cert),
        "server": {"cert": str(certs.server_cert), "key": str(certs.server_key)},
        **({"dashboard": {"cert": str(certs.dashboard_cert), "key": str(certs.dashboard_key)}}
           if args.dashboard_host else {}),
        "devices": {d: {"cert": str(certs.device_cert(d)), "key": str(certs.device_key(d))} for d in args.device},
        "issued": [str(p) for p in certs.issued],
    }, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("broker", help="MQTT broker: serve, identities, schemas")
    parser.add_argument("--config", help="YAML settings file (else $CW_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="broker state directory")
    # The same two options after the sub-command too (`broker serve --data-dir X`); SUPPRESS keeps a value
    # given before the sub-command from being reset.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="YAML settings file (else $CW_CONFIG)")
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help="broker state directory")
    cmds = parser.add_subparsers(dest="broker_command", required=True)

    serve = cmds.add_parser("serve", parents=[common],
                            help="run Mosquitto with the project's config (embedded amqtt if absent)")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=cmd_serve)

    add = cmds.add_parser("add-identity", parents=[common], help="create or replace a device/dashboard identity")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.DEVICE.value)
    add.add_argument("--site")
    add.add_argument("--password", help="default: a random one, printed once")
    add.set_defaults(handler=cmd_add)

    rotate = cmds.add_parser("rotate", parents=[common],
                             help="new login + password for an identity (the old ones valid until --finish)")
    rotate.add_argument("username")
    rotate.add_argument("--finish", action="store_true")
    rotate.set_defaults(handler=cmd_rotate)

    schemas = cmds.add_parser("export-schemas", help="write JSON Schema files of every payload")
    schemas.add_argument("--out")
    schemas.set_defaults(handler=cmd_export_schemas)

    render = cmds.add_parser("render", parents=[common],
                             help="write mosquitto.conf, passwd and acl for an external Mosquitto, then exit")
    render.set_defaults(handler=cmd_render)

    certs = cmds.add_parser("make-certs", help="private CA, server and per-device certificates (docs/tls.md)")
    certs.add_argument("--out", required=True, help="directory for the CA, server and device files")
    certs.add_argument("--host", action="append", required=True,
                       help="server name or address clients dial (repeat); the first is the CN")
    certs.add_argument("--device", action="append", default=[], help="device identity to issue a client cert for")
    certs.add_argument("--dashboard-host", action="append", default=[],
                       help="also issue the dashboard's HTTPS certificate for this name/address (repeat)")
    certs.add_argument("--renew", action="store_true", help="re-issue server and device certs (same CA)")
    certs.set_defaults(handler=cmd_make_certs)
