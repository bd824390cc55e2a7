"""``counterwatch bench scenarios``: every scenario clip through the real edge node (decode, detector, zones,
cues, rules, evidence, outbox, MQTT publisher), a real Mosquitto with the project's config and ACL, and
``counterwatch dashboard ingest`` as a child process into a real SQLite database; the committed event rows
are then matched against the scenario's ground truth (rigs/scenarios/match.py).

Files play as fast as the pipeline allows (``--realtime`` paces them). Timestamps stay media time, so an
event's start is comparable with the truth either way. Latency is measured from the moment the edge's rules
emitted the event (the threshold was crossed on the frame just analysed) to the moment the ingest wrote
its row (``event.received_at``); with ``--realtime`` it is also given from the threshold on the video's
clock (which adds the frame's analysis time). Prints JSON; exit status 1 when a scenario could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from broker.credentials import Registry, Role
from broker.mosquitto import BrokerConfig, MosquittoProcess, free_port, write_files
from broker.payloads import EventMessage, EventPhase
from models.manifest import sign_candidate_floor
from rigs.scenarios.build import OUT_DIR, SourceMissing, ensure_clip
from rigs.scenarios.match import Emitted, Expected, MatchResult, match, summarise, totals
from rigs.scenarios.spec import DATA, ROOT, SHARED, Scenario, load_scenario, scenario_files

log = logging.getLogger("rigs.scenarios")
DEVICE = "edge1"
CAMERA = "cam1"
ALWAYS = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def edge_settings_dict(scenario: Scenario, clip: Path, *, workdir: Path, mqtt_port: int, password: str,
                       realtime: bool, site: str, device: str = DEVICE) -> dict[str, Any]:
    """The edge configuration a scenario runs under: its windows, its (demo) thresholds, always in service."""
    return {
        "site": site, "device": device,
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "username": device, "password": password,
                 "keepalive": 10},
        "outbox": {"path": str(workdir / f"{site}-outbox.sqlite")},
        "rules": scenario.rules,
        "service_hours": {"timezone": "Asia/Shanghai", "weekly": ALWAYS},
        "sign": {"ocr": False},  # the ArUco marker and the detector's sign class; OCR is a CPU hog here
        # the sign verifier sees every candidate it was calibrated on, as in `counterwatch up`
        "detector": {"class_confidence": sign_candidate_floor(ROOT / "models")},
        "evidence": {"dir": str(workdir / f"{site}-evidence"), "pre_roll_s": 3, "post_roll_s": 3},
        "heartbeat_s": 5,
        "cameras": [{
            "id": CAMERA, "source": str(clip), "analysis_fps": scenario.analysis_fps, "loop": False,
            "realtime": realtime,
            "windows": [w.model_dump(mode="json", exclude_none=True) for w in scenario.edge_windows()],
        }],
    }


# -- services ------------------------------------------------------------------------------------------
class Broker:
    def __init__(self, data_dir: Path, devices: dict[str, str]) -> None:
        """``devices``: device id -> site."""
        registry = Registry()
        self.passwords = {"dashboard": registry.add("dashboard", Role.DASHBOARD)}
        for device, site in devices.items():
            self.passwords[device] = registry.add(device, Role.DEVICE, site=site)
        registry.save(data_dir / "identities.yaml")
        self.cfg = BrokerConfig(data_dir=data_dir, port=free_port())
        write_files(self.cfg, registry)
        self.process = MosquittoProcess(self.cfg)

    def __enter__(self) -> Broker:
        self.process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.process.stop()


class Ingest:
    """``counterwatch dashboard ingest`` as its own process, exactly as deployed."""

    def __init__(self, db_url: str, port: int, password: str, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ, "CW_DASHBOARD_DATABASE_URL": db_url, "CW_DASHBOARD_MQTT__HOST": "127.0.0.1",
            "CW_DASHBOARD_MQTT__PORT": str(port), "CW_DASHBOARD_MQTT__PASSWORD": password,
            "CW_DASHBOARD_MQTT__CLIENT_ID": "cw-scenario-ingest", "CW_DASHBOARD_STATE_DIR": str(state_dir),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        }
        self.log_path = state_dir / "ingest.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Ingest:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "counterwatch.cli", "dashboard", "ingest"],
                                         env=self.env, stdout=out, stderr=out, cwd=ROOT)
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- one scenario --------------------------------------------------------------------------------------
@dataclass
class ScenarioRun:
    scenario: Scenario
    site: str
    start_wall: datetime
    emitted_at: dict[str, float] = field(default_factory=dict)  # event_id -> time.time() at the rules' start
    wall_s: float = 0.0
    frames: int = 0


def _hold(scenario: Scenario, rule: str) -> float:
    t = scenario.thresholds
    return {
        "unattended_no_sign": t.unattended_s, "absence_over_30min": t.absence_s,
        "customer_waiting_unattended": t.customer_waiting_s, "slippers": t.slippers_s, "eating": t.eating_s,
        "phone_use": t.phone_s, "camera_offline": t.camera_blind_s, "camera_obstructed": t.camera_blind_s,
    }.get(rule, 0.0)


def run_edge(scenario: Scenario, settings_dict: dict[str, Any], detector: Any, start_wall: datetime,
             run: ScenarioRun, timeout_s: float) -> None:
    from edge.node import EdgeNode
    from edge.settings import EdgeSettings

    class TimedNode(EdgeNode):
        """The real node; only notes when each event's start left the rules."""

        def enqueue(self, message: BaseModel) -> None:
            if isinstance(message, EventMessage) and message.phase is EventPhase.START:
                run.emitted_at.setdefault(message.event_id, time.time())
            super().enqueue(message)

    settings = EdgeSettings.model_validate(settings_dict)
    node = TimedNode(settings, detector=detector, start_wall=start_wall)
    if settings.cameras[0].realtime:
        # Paced playback starts when the reader starts, so media time 0 must be that moment (a few ms
        # early at worst: the latency from the threshold is then overstated, never understated).
        run.start_wall = datetime.now(UTC)
        node.start_wall = run.start_wall
        for camera in node.cameras:
            camera.reader.start_wall = run.start_wall
    t0 = time.monotonic()
    node.run(until_eof=True, max_seconds=timeout_s, drain_timeout=60)
    run.wall_s = time.monotonic() - t0
    run.frames = sum(r.pipeline.frames for r in node.cameras)


def committed_events(db: Any, site: str) -> list[tuple[str, str, str, datetime, datetime | None, datetime]]:
    from sqlalchemy import select

    from dashboard.db.models import Event, Window

    with db.session() as s:
        rows = s.execute(
            select(Event.event_id, Event.rule, Window.code, Event.started_at, Event.ended_at, Event.received_at)
            .join(Window, Window.id == Event.window_id).where(Event.site_id == site)
        ).all()
    return [tuple(r) for r in rows]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def collect(run: ScenarioRun, db: Any, *, realtime: bool = False, timeout_s: float = 30.0) -> list[Emitted]:
    """Wait until every event the edge started has its row, then read them back as clip-relative events.
    Latency: from the rules' emission (as fast as possible), or from the threshold on the video's clock
    (``realtime``: the frames are paced to the wall clock, so that moment is a wall-clock one)."""
    deadline = time.monotonic() + timeout_s
    rows = committed_events(db, run.site)
    while {r[0] for r in rows} < set(run.emitted_at) and time.monotonic() < deadline:
        time.sleep(0.3)
        rows = committed_events(db, run.site)
    out = []
    for event_id, rule, window, started, ended, received in rows:
        emitted = run.emitted_at.get(event_id)
        start = (_utc(started) - run.start_wall).total_seconds()
        if realtime:
            threshold = run.start_wall.timestamp() + start + _hold(run.scenario, rule)
            latency: float | None = _utc(received).timestamp() - threshold
        else:
            latency = _utc(received).timestamp() - emitted if emitted is not None else None
        out.append(Emitted(
            run.scenario.name, rule, window, start,
            None if ended is None else (_utc(ended) - run.start_wall).total_seconds(),
            latency_s=latency, event_id=event_id,
        ))
    return sorted(out, key=lambda e: (e.window, e.start, e.rule))


def expected_of(scenario: Scenario) -> list[Expected]:
    return [Expected(scenario.name, t.rule.value, t.window, t.start, t.end) for t in scenario.truth]


# -- the bench -----------------------------------------------------------------------------------------
def selected(names: list[str] | None, ci_only: bool = False, directory: Path | None = None) -> list[Scenario]:
    scenarios = [load_scenario(p) for p in scenario_files(*(() if directory is None else (directory,)))]
    if names:
        unknown = set(names) - {s.name for s in scenarios}
        if unknown:
            raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        scenarios = [s for s in scenarios if s.name in names]
    if ci_only:
        scenarios = [s for s in scenarios if s.ci]
    return scenarios


def run_scenarios(scenarios: list[Scenario], workdir: Path, *, realtime: bool = False, clips_dir: Path = OUT_DIR,
                  shared: Path = SHARED, data: Path = DATA, timeout_s: float = 900.0) -> dict[str, Any]:
    from dashboard.db.engine import Database
    from dashboard.db.migrate import upgrade
    from dashboard.registry import CameraSpec, register_device
    from edge.node import load_detector
    from edge.settings import EdgeSettings

    clips: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for sc in scenarios:
        try:
            clips[sc.name] = ensure_clip(sc, clips_dir, shared, data)
        except SourceMissing as exc:  # evaluation footage (../shared, --data) that this machine lacks
            skipped[sc.name] = str(exc)
    scenarios = [sc for sc in scenarios if sc.name in clips]
    sites = {s.name: s.name for s in scenarios}  # one site per scenario keeps window codes apart
    devices = {f"edge-{s.name}"[:64]: sites[s.name] for s in scenarios}
    db_url = f"sqlite:///{workdir / 'dashboard.db'}"
    upgrade(db_url)
    db = Database(db_url)
    with db.session() as s:
        for sc in scenarios:
            register_device(s, sites[sc.name], f"edge-{sc.name}"[:64],
                            [CameraSpec(CAMERA, tuple(w.id for w in sc.windows))])
    results: dict[str, Any] = {}
    overall = MatchResult()
    detector = None
    with Broker(workdir / "broker", devices) as broker, \
            Ingest(db_url, broker.cfg.port, broker.passwords["dashboard"], workdir / "ingest"):
        for sc in scenarios:
            device = f"edge-{sc.name}"[:64]
            settings = edge_settings_dict(sc, clips[sc.name], workdir=workdir, mqtt_port=broker.cfg.port,
                                          password=broker.passwords[device], realtime=realtime,
                                          site=sites[sc.name], device=device)
            if detector is None:
                detector = load_detector(EdgeSettings.model_validate(settings))
            start_wall = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
            run = ScenarioRun(sc, sites[sc.name], start_wall)
            run_edge(sc, settings, detector, start_wall, run, timeout_s)
            events = collect(run, db, realtime=realtime)
            result = match(expected_of(sc), events, sc.tolerance_s)
            overall.extend(result)
            results[sc.name] = scenario_report(sc, run, events, result)
    db.dispose()
    rules = sorted({t.rule.value for sc in scenarios for t in sc.truth})
    return {
        "scenarios": results,
        "rules": summarise(overall, rules),
        "total": totals(overall),
        "skipped": skipped,
        "mode": "realtime" if realtime else "as fast as the pipeline allows",
        "latency": ("threshold on the video clock -> dashboard row written (event.received_at)" if realtime
                    else "rules emitted the start -> dashboard row written (event.received_at)"),
    }


def scenario_report(sc: Scenario, run: ScenarioRun, events: list[Emitted], result: MatchResult) -> dict[str, Any]:
    def show(e: Emitted) -> dict[str, Any]:
        return {"rule": e.rule, "window": e.window, "start": round(e.start, 2),
                "end": None if e.end is None else round(e.end, 2),
                "latency_s": None if e.latency_s is None else round(e.latency_s, 3)}

    report: dict[str, Any] = {
        "clip_s": round(sc.clip.duration, 1), "wall_s": round(run.wall_s, 1),
        "speed": round(sc.clip.duration / run.wall_s, 2) if run.wall_s else None, "frames": run.frames,
        "tp": len(result.true_positives), "fp": len(result.false_positives), "fn": len(result.missed),
        "events": [show(e) for e in events],
        "false_positives": [show(e) for e in result.false_positives],
        "missed": [{"rule": t.rule, "window": t.window, "start": t.start} for t in result.missed],
        "start_errors": [{"rule": p.expected.rule, "window": p.expected.window, "truth": p.expected.start,
                          "error_s": round(p.error, 2)} for p in result.true_positives],
    }
    if sc.unsupported:
        report["unsupported"] = sc.unsupported
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="scenario names (default: every file in config/scenarios)")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON (default: a table)")
    parser.add_argument("--ci", action="store_true", help="only the short subset the test suite runs")
    parser.add_argument("--realtime", action="store_true", help="pace the clips at their frame rate")
    parser.add_argument("--clips", type=Path, default=OUT_DIR, help="where built clips are kept")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the source footage (../shared/datasets)")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="footage fetched outside ../shared (default: $CW_SCENARIO_DATA or var/scenario-data)")
    parser.add_argument("--workdir", type=Path, help="keep broker, database and outboxes here")


def run(args: argparse.Namespace) -> int:
    logging.getLogger("edge").setLevel(logging.WARNING)
    scenarios = selected(args.names, args.ci)
    temp = None if args.workdir else tempfile.mkdtemp(prefix="cw-scenarios-")
    workdir = Path(args.workdir) if args.workdir else Path(str(temp))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        report = run_scenarios(scenarios, workdir, realtime=args.realtime, clips_dir=args.clips, shared=args.shared,
                               data=args.data)
    finally:
        if temp:
            with contextlib.suppress(OSError):
                shutil.rmtree(temp, ignore_errors=True)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else table(report))
    return 0


def table(report: dict[str, Any]) -> str:
    """The per-rule summary as text, then each scenario's misses and false alarms."""
    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    head = f"{'rule':30} {'TP':>3} {'FP':>3} {'FN':>3} {'prec':>6} {'recall':>6} {'err mean':>8} {'err p95':>8} " \
           f"{'lat p95':>8}"
    lines = [head, "-" * len(head)]
    for rule, r in report["rules"].items():
        lines.append(f"{rule:30} {r['tp']:>3} {r['fp']:>3} {r['fn']:>3} {cell(r['precision']):>6} "
                     f"{cell(r['recall']):>6} {cell(r['start_error_mean_s']):>8} {cell(r['start_error_p95_s']):>8} "
                     f"{cell(r['latency_p95_s']):>8}")
    for name, sc in report["scenarios"].items():
        lines.append(f"{name}: {sc['tp']} right, {sc['fp']} false, {sc['fn']} missed "
                     f"({sc['clip_s']} s of video in {sc['wall_s']} s)")
        lines.extend(f"  false: {e['rule']} {e['window']} at {e['start']} s" for e in sc["false_positives"])
        lines.extend(f"  missed: {t['rule']} {t['window']} at {t['start']} s" for t in sc["missed"])
    lines.extend(f"skipped {name}: {why}" for name, why in report["skipped"].items())
    return "\n".join(lines)

