"""``counterwatch up``: the whole system on one machine — broker, dashboard (SQLite), one edge node.

Without ``--source`` it runs the shipped demo: two cameras on looping clips of real people (a 2x2 split
screen for windows 1-3 and window 4's own camera, counterwatch/demo), with demo thresholds (unattended 20 s,
absence 45 s, customer waiting 10 s) and a roster that has every demo window staffed around the clock, so
that the first alerts arrive within a minute of start; every page then says it shows demo data.

Each service runs as its own child process, exactly as it would in a deployment, wired together with
generated credentials kept in ``{data_dir}/secrets.yaml`` (0600) so that a second ``up`` reuses them.
Ctrl-C (or SIGTERM) stops everything; if one service dies, the others are stopped and the exit code
says so.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from broker.credentials import Registry, Role
from broker.mosquitto import free_port, wait_for_port
from counterwatch.samples import DEMO_CAMERAS, demo_clip
from models.manifest import sign_candidate_floor

SITE = "hall1"
DEVICE = "edge1"
CAMERA = "cam1"
WINDOW = "w01"
MODELS = Path(__file__).resolve().parents[1] / "models"


def _port(preferred: int) -> int:
    """The preferred port when it is free, else any free one (a system broker may hold 1883)."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def load_secrets(path: Path) -> dict[str, str]:
    stored: dict[str, str] = yaml.safe_load(path.read_text()) if path.exists() else {}
    wanted = ["dashboard_mqtt_password", "edge_mqtt_password", "admin_password", "session_secret"]
    for key in wanted:
        stored.setdefault(key, secrets.token_urlsafe(18))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(stored))
    path.chmod(0o600)
    return stored


def provision_broker(broker_dir: Path, creds: dict[str, str]) -> None:
    registry = Registry.load(broker_dir / "identities.yaml")
    for user, role, site, key in (
        ("dashboard", Role.DASHBOARD, None, "dashboard_mqtt_password"),
        (DEVICE, Role.DEVICE, SITE, "edge_mqtt_password"),
    ):
        if not registry.verify(user, creds[key]):
            registry.add(user, role, site=site, password=creds[key])
    registry.save(broker_dir / "identities.yaml")


ALWAYS = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def demo_cameras() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The shipped demo's cameras (looping, paced) and its demo thresholds, from the scenario files."""
    from rigs.scenarios.spec import load_scenario

    cameras, rules = [], {}
    for camera, name in DEMO_CAMERAS:
        clip, spec_path = demo_clip(name)
        scenario = load_scenario(spec_path)
        rules = dict(scenario.rules)
        cameras.append({
            "id": camera, "source": str(clip), "loop": True, "analysis_fps": scenario.analysis_fps,
            "windows": [w.model_dump(mode="json", exclude_none=True) for w in scenario.edge_windows()],
        })
    return cameras, rules


def demo_edge_config(mqtt_port: int, dashboard_url: str, upload_token: str, password: str,
                     data_dir: Path) -> dict[str, Any]:
    cameras, rules = demo_cameras()
    return {
        "site": SITE,
        "device": DEVICE,
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "username": DEVICE, "password": password},
        "dashboard": {"url": dashboard_url, "token": upload_token},
        "outbox": {"path": str(data_dir / "edge-outbox.sqlite")},
        "evidence": {"dir": str(data_dir / "edge-evidence"), "pre_roll_s": 5, "post_roll_s": 5},
        "rules": rules,
        "service_hours": {"timezone": "Asia/Shanghai", "weekly": ALWAYS},  # demo: the hall never closes
        # the sign verifier sees every pause_sign candidate it was calibrated on (models/manifest.json min_det)
        "detector": {"class_confidence": sign_candidate_floor(MODELS)},
        "sign": {"ocr": False},  # the printed sign's ArUco marker and the detector see it; OCR only costs CPU
        "cameras": cameras,
    }


def edge_config(source: str, mqtt_port: int, dashboard_url: str, upload_token: str, password: str,
                data_dir: Path) -> dict[str, Any]:
    """One camera, one window whose staff zone is the lower two thirds of the view."""
    return {
        "site": SITE,
        "device": DEVICE,
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "username": DEVICE, "password": password},
        "dashboard": {"url": dashboard_url, "token": upload_token},
        "outbox": {"path": str(data_dir / "edge-outbox.sqlite")},
        "detector": {"class_confidence": sign_candidate_floor(MODELS)},
        "cameras": [
            {
                "id": CAMERA,
                "source": source,
                "loop": True,
                "windows": [
                    {
                        "id": WINDOW,
                        "zones": {
                            "staff": [[0.05, 0.2], [0.95, 0.2], [0.95, 1.0], [0.05, 1.0]],
                            "counter": [[0.0, 0.75], [1.0, 0.75], [1.0, 1.0], [0.0, 1.0]],
                            "floor": [[0.0, 0.9], [1.0, 0.9], [1.0, 1.0], [0.0, 1.0]],
                            "customer": [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2], [0.0, 0.2]],
                        },
                    }
                ],
            }
        ],
    }


class Services:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        cmd = [sys.executable, "-m", "counterwatch.cli", *args]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.procs.append((name, proc))

    def dead(self) -> str | None:
        return next((name for name, p in self.procs if p.poll() is not None), None)

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_cli(args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "counterwatch.cli", *args], env={**os.environ, **env},
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"`counterwatch {' '.join(args)}` failed:\n{out.stderr or out.stdout}")
    return out.stdout


def wait_http(url: str, timeout: float, services: Services) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (dead := services.dead()) is not None:
            raise SystemExit(f"{dead} exited during start-up; see its log in {services.log_dir}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.3)
    raise SystemExit(f"dashboard did not answer at {url} within {timeout:.0f}s")


def cmd_up(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    creds = load_secrets(data_dir / "secrets.yaml")
    demo = args.source is None
    mqtt_port = args.mqtt_port or _port(1883)
    http_port = args.http_port or _port(8080)
    url = f"http://127.0.0.1:{http_port}"

    provision_broker(data_dir / "broker", creds)
    dash_env = {
        "CW_DASHBOARD_DATABASE_URL": f"sqlite:///{data_dir / 'dashboard.db'}",
        "CW_DASHBOARD_STATE_DIR": str(data_dir / "dashboard"),
        "CW_DASHBOARD_EVIDENCE_DIR": str(data_dir / "dashboard" / "evidence"),
        "CW_DASHBOARD_MQTT__PORT": str(mqtt_port),
        "CW_DASHBOARD_MQTT__PASSWORD": creds["dashboard_mqtt_password"],
        "CW_DASHBOARD_ADMIN_PASSWORD": creds["admin_password"],
        "CW_DASHBOARD_SESSION_SECRET": creds["session_secret"],
        "CW_DASHBOARD_HTTP_PORT": str(http_port),
        "CW_DASHBOARD_DEMO": "true" if demo else "false",
    }
    # Migrate, seed the demo hall and register the edge device (prints its upload token once; a
    # re-run rotates it, which is fine: the edge config is rewritten below).
    run_cli(["dashboard", "migrate"], dash_env)
    run_cli(["dashboard", "seed"], dash_env)
    if demo:
        cameras, _ = demo_cameras()
        layout = [f"{c['id']}:{','.join(w['id'] for w in c['windows'])}" for c in cameras]
        source = ", ".join(f"{c['id']}: {c['source']}" for c in cameras) + " (demo data, looping)"
    else:
        layout, source = [f"{CAMERA}:{WINDOW}"], args.source
    registered = run_cli(
        ["dashboard", "add-device", "--site", SITE, "--device", DEVICE,
         *(arg for cam in layout for arg in ("--camera", cam))],
        dash_env,
    )
    token = json.loads(registered.strip().splitlines()[-1])["upload_token"]

    edge_yaml = data_dir / "edge.yaml"
    config = (demo_edge_config(mqtt_port, url, token, creds["edge_mqtt_password"], data_dir) if demo
              else edge_config(args.source, mqtt_port, url, token, creds["edge_mqtt_password"], data_dir))
    edge_yaml.write_text(yaml.safe_dump(config, allow_unicode=True))
    edge_yaml.chmod(0o600)

    services = Services(data_dir / "logs")
    try:
        services.start("broker", ["broker", "--data-dir", str(data_dir / "broker"), "serve",
                                  "--port", str(mqtt_port)])
        wait_for_port("127.0.0.1", mqtt_port, timeout=15)
        services.start("dashboard", ["dashboard", "serve"], dash_env)
        wait_http(f"{url}/healthz", 60, services)
        if not args.no_edge:
            services.start("edge", ["edge", "run", "--config", str(edge_yaml)])
        print(
            f"\nCounterWatch is running.\n"
            f"  dashboard   {url}/\n"
            f"  admin       user admin, password {creds['admin_password']}\n"
            f"  broker      mqtt://127.0.0.1:{mqtt_port}\n"
            f"  edge source {source}\n"
            f"  logs        {data_dir / 'logs'}\n"
            f"Press Ctrl-C to stop.\n",
            flush=True,
        )
        stop = False

        def _stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        deadline = time.monotonic() + args.max_seconds if args.max_seconds else None
        while not stop and (dead := services.dead()) is None:
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.5)
        else:
            if not stop:
                print(f"{dead} stopped unexpectedly; see {data_dir / 'logs'}", file=sys.stderr)
                return 1
        return 0
    finally:
        services.stop()


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("up", help="start broker, dashboard and one edge node (default: the looping demo)")
    parser.add_argument("--source", help="file, rtsp://..., or usb:N for one window w01 (default: the shipped "
                        "demo, two cameras of real footage with demo thresholds and a demo roster)")
    parser.add_argument("--data-dir", type=Path, default=Path("var/up"))
    parser.add_argument("--mqtt-port", type=int, help="default 1883, or a free port if taken")
    parser.add_argument("--http-port", type=int, help="default 8080, or a free port if taken")
    parser.add_argument("--no-edge", action="store_true", help="broker and dashboard only")
    parser.add_argument("--max-seconds", type=float, help="stop after this long (smoke tests)")
    parser.set_defaults(handler=cmd_up)
