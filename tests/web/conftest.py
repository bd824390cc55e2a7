"""Browser tests of the web UI: a real dashboard (uvicorn on a free port, real database) with the real ingest
consumer on a real Mosquitto, driven by a real headless Chromium (Playwright)."""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from broker.evidence import DEVICE_HEADER, SHA256_HEADER, evidence_path
from dashboard.app import create_app
from dashboard.auth.users import create_user
from dashboard.db.engine import Database
from dashboard.db.models import Roster, Staff, Window, utcnow
from dashboard.enums import Role
from dashboard.ingest.consumer import IngestConsumer
from dashboard.registry import CameraSpec, register_device
from dashboard.settings import DashboardSettings, MqttSettings
from tests.dashboard.conftest import db_url, postgres_database, postgres_server  # noqa: F401  (fixtures)
from tests.support.http import serve_app
from tests.support.mqtt import BrokerHandle, connect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORDS = {"admin": "admin-password-1", "duty": "duty-password-1", "super": "super-password-1"}


@dataclass
class Dashboard:
    base_url: str
    settings: DashboardSettings
    db: Database
    upload_token: str
    broker: BrokerHandle
    consumer: IngestConsumer
    app: FastAPI

    def url(self, path: str) -> str:
        return self.base_url + path


def _seed(db: Database) -> str:
    """Device edge-a (camera cam1 over windows w01, w02), people with every role, a clerk on duty at w01."""
    with db.session() as s:
        cameras = [CameraSpec("cam1", ("w01", "w02"))]
        token = register_device(s, "hall1", "edge-a", cameras, name="一号边缘盒").upload_token
        create_user(s, "duty", PASSWORDS["duty"], Role.DUTY, display_name="值班员小王")
        create_user(s, "super", PASSWORDS["super"], Role.SUPERVISOR, display_name="督查员老李")
        now = utcnow()
        for i, (no, name) in enumerate((("E001", "张三"), ("E002", "李四"))):
            staff = Staff(site_id="hall1", employee_no=no, name=name, department="综合窗口")
            s.add(staff)
            s.flush()
            window = s.query(Window).filter_by(code=f"w0{i + 1}").one()
            window.name = f"{i + 1}号窗口"
            s.add(Roster(staff_id=staff.id, window_id=window.id, start=now - timedelta(hours=2),
                         end=now + timedelta(hours=6)))
    return token


@pytest.fixture
def dashboard(fresh_mosquitto: BrokerHandle, db_url: str, tmp_path: Path) -> Iterator[Dashboard]:  # noqa: F811
    settings = DashboardSettings(
        database_url=db_url, evidence_dir=tmp_path / "evidence", state_dir=tmp_path / "state",
        session_secret="web-test-secret-" + "x" * 32,
        admin_password=PASSWORDS["admin"],
        mqtt=MqttSettings(host=fresh_mosquitto.host, port=fresh_mosquitto.port, username="dashboard",
                          password=fresh_mosquitto.passwords["dashboard"],
                          client_id=f"dashboard-web-{time.monotonic_ns()}"),
    )
    db = Database(db_url)
    app = create_app(settings, db=db)
    token = _seed(db)
    consumer = IngestConsumer.from_settings(settings, db).start()
    try:
        with serve_app(app, "uvicorn-web-test") as base:
            yield Dashboard(base, settings, db, token, fresh_mosquitto, consumer, app)
    finally:
        consumer.stop()
        db.dispose()


# -- evidence -------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def clip_mp4(office_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real H.264 MP4 (yuv420p, moov atom first) made from frames of the office CCTV clip."""
    out = tmp_path_factory.mktemp("clip") / "event.mp4"
    with av.open(str(office_clip)) as src, av.open(str(out), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "28"}
        for index, frame in enumerate(src.decode(video=0)):
            if index >= 40:  # 4 s at 10 fps
                break
            image = frame.reformat(width=640, height=360, format="yuv420p")
            image.pts, image.time_base = index, Fraction(1, 10)
            for packet in stream.encode(image):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out.read_bytes()


@pytest.fixture(scope="session")
def snapshot_jpeg(office_clip: Path) -> bytes:
    with av.open(str(office_clip)) as src:
        frame = next(src.decode(video=0))
    import io

    buf = io.BytesIO()
    frame.to_image().resize((640, 360)).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def upload_evidence(dash: Dashboard, evidence_id: str, body: bytes, content_type: str) -> None:
    """PUT through the device evidence endpoint, exactly as an edge box does (broker/evidence.py)."""
    response = httpx.put(
        dash.url(evidence_path(evidence_id)), content=body, timeout=30,
        headers={"Authorization": f"Bearer {dash.upload_token}", "Content-Type": content_type,
                 SHA256_HEADER: hashlib.sha256(body).hexdigest(), DEVICE_HEADER: "edge-a"},
    )
    assert response.status_code in (200, 201), response.text


# -- MQTT -----------------------------------------------------------------------------------------------
@pytest.fixture
def edge_publish(dashboard: Dashboard) -> Iterator[Callable[[str, bytes], None]]:
    """Publish as the edge-a identity (QoS 1, waits for PUBACK)."""
    client = dashboard.broker.client("edge-a")
    assert connect(client, dashboard.broker.host, dashboard.broker.port).is_failure is False

    def publish(topic: str, payload: bytes) -> None:
        client.publish(topic, payload, qos=1).wait_for_publish(10)

    yield publish
    client.loop_stop()
    client.disconnect()


# -- browser --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture
def open_browser(playwright: Playwright) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh Chromium profiles (one per signed-in person), closed at the end of the test."""
    contexts: list[BrowserContext] = []
    dirs: list[tempfile.TemporaryDirectory[str]] = []
    script_errors: list[str] = []

    def open_one() -> BrowserContext:
        profile = tempfile.TemporaryDirectory(prefix="cw-chromium-")
        dirs.append(profile)
        ctx = playwright.chromium.launch_persistent_context(
            profile.name, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 860}, locale="zh-CN", timezone_id="Asia/Shanghai",
        )
        ctx.set_default_timeout(15_000)
        # Any uncaught script error fails the test: a broken app.js silently loses the live updates.
        ctx.on("page", lambda page: page.on("pageerror", lambda exc: script_errors.append(str(exc))))
        for page in ctx.pages:
            page.on("pageerror", lambda exc: script_errors.append(str(exc)))
        contexts.append(ctx)
        return ctx

    yield open_one
    for ctx in contexts:
        ctx.close()
    for d in dirs:
        d.cleanup()
    assert script_errors == [], f"script errors in the pages: {script_errors}"


def login(ctx: BrowserContext, dash: Dashboard, username: str, next_path: str = "/board") -> Page:
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.goto(dash.url(f"/login?next={next_path}"))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORDS[username])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: url.endswith(next_path))
    return page


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
