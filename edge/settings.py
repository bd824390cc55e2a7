"""Edge node configuration: one YAML file plus ``CW_EDGE_`` environment variables.

Zones are polygons in *normalised* image coordinates (0..1, x right, y down) so a config survives a
camera resolution change. Every window has a staff zone; counter, floor and customer zones are optional
and switch on the cues that need them (sign / slippers / customers).
"""

from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from broker.client_settings import MqttClientSettings
from broker.payloads import SegmentId
from common.config import ServiceSettings
from edge.outbox import ReceiptPolicy
from vision.taxonomy import TAXONOMY

ROOT = Path(__file__).resolve().parents[1]


def _point(value: tuple[float, float]) -> tuple[float, float]:
    x, y = value
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f"point {list(value)} is outside 0..1 (zones use normalised coordinates)")
    return (float(x), float(y))


NormPoint = Annotated[tuple[float, float], AfterValidator(_point)]
Polygon = Annotated[list[NormPoint], Field(min_length=3)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zones(_Strict):
    staff: Polygon = Field(description="where a clerk on duty sits or stands")
    counter: Polygon | None = Field(default=None, description="desk top where a pause sign is put up")
    floor: Polygon | None = Field(default=None, description="floor behind the counter (footwear)")
    customer: Polygon | None = Field(default=None, description="where customers wait in front")


_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


class TimeRange(_Strict):
    """``"09:00-12:00"`` in the site's local time; ``24:00`` is allowed as an end."""

    start: time
    end: time | None  # None = midnight at the end of the day

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        m = _RANGE.match(text.strip())
        if not m:
            raise ValueError(f"{text!r} is not a time range like '09:00-12:00'")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(f"{text!r} holds an impossible time")
        start, end = time(h1, m1), (None if h2 == 24 else time(h2, m2))
        if end is not None and end <= start:
            raise ValueError(f"{text!r} ends before it starts")
        return cls(start=start, end=end)

    def contains(self, t: time) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


def _ranges(value: object) -> object:
    if isinstance(value, list):
        return [TimeRange.parse(v) if isinstance(v, str) else v for v in value]
    return value


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS = list(Weekday)
_OFFICE = ["09:00-12:00", "13:30-17:30"]


class ServiceHours(_Strict):
    """When staff rules apply. Outside these hours presence is still reported but no staff rule fires."""

    timezone: str = "Asia/Shanghai"
    weekly: dict[Weekday, list[TimeRange]] = Field(
        default_factory=lambda: {d: [TimeRange.parse(r) for r in _OFFICE] for d in WEEKDAYS[:5]}
    )
    breaks: list[TimeRange] = Field(default_factory=list, description="every day, cut out of the schedule")
    holidays: list[date] = Field(default_factory=list, description="closed all day")
    workdays: dict[date, Weekday] = Field(
        default_factory=dict, description="make-up working days (调休): date -> weekday schedule to use"
    )

    _parse_weekly = field_validator("weekly", mode="before")(
        lambda v: {k: _ranges(r) for k, r in v.items()} if isinstance(v, dict) else v
    )
    _parse_breaks = field_validator("breaks", mode="before")(_ranges)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class WindowConfig(_Strict):
    id: SegmentId
    number: int | None = Field(
        default=None, ge=0, description="printed window number; its pause-sign marker is ArUco id number % 50"
    )
    staff_count_expected: int = Field(1, ge=0)
    zones: Zones
    service_hours: ServiceHours | None = Field(default=None, description="overrides the site's hours")


class CameraConfig(_Strict):
    id: SegmentId
    source: str = Field(min_length=1, description="video file path, rtsp://... URL or usb:N")
    analysis_fps: float = Field(5.0, gt=0, le=30)
    loop: bool = Field(False, description="files: start again at the end")
    realtime: bool = Field(True, description="files: pace playback at the file's frame rate")
    decoder_threads: int = Field(
        1, ge=0, le=16, description="FFmpeg decoding threads for this camera (files, RTSP); 0: FFmpeg's "
        "choice (one per core, each holding frames of its own). A node runs a reader per camera already, so "
        "one each costs less memory (~6 MB a 1600x900 stream) and no throughput")
    windows: list[WindowConfig] = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _source_form(cls, value: str) -> str:
        if value.startswith("usb:") and not value[4:].isdigit():
            raise ValueError("a USB source is 'usb:N' with N the device index")
        return value

    @model_validator(mode="after")
    def _unique_windows(self) -> CameraConfig:
        ids = [w.id for w in self.windows]
        if len(ids) != len(set(ids)):
            raise ValueError(f"camera {self.id}: window ids repeat: {ids}")
        return self


class MqttSettings(MqttClientSettings):
    """The node's broker connection (broker/client_settings.py); the username defaults to the device id and
    the client id to ``cw-{site}-{device}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DashboardSettings(_Strict):
    url: str | None = Field(default=None, description="base URL for evidence upload; none = keep local")
    token: str | None = None
    timeout_s: float = Field(20.0, gt=0)


class OutboxSettings(_Strict):
    path: Path = Path("var/edge/outbox.sqlite")
    max_messages: int = Field(200_000, ge=10)
    max_clip_bytes: int = Field(2 * 1024**3, ge=1024 * 1024)
    max_inflight: int = Field(32, ge=1, le=1000)
    # Delivery receipts (edge/outbox.py): a message stays until the dashboard says it is stored.
    receipts: bool = Field(True, description="keep each message until the dashboard's delivery receipt")
    lost_when_overtaken_s: float = Field(
        60.0, ge=1, description="presume a message lost when one PUBACKed this much later got its receipt")
    resend_unreceipted_after_s: float = Field(
        6 * 3600.0, ge=60, description="safety net: send again this long after the PUBACK (doubles per send)")
    resend_unreceipted_max_s: float = Field(48 * 3600.0, ge=60)

    def receipt_policy(self) -> ReceiptPolicy:
        return ReceiptPolicy(self.receipts, self.lost_when_overtaken_s, self.resend_unreceipted_after_s,
                             max(self.resend_unreceipted_after_s, self.resend_unreceipted_max_s))


class RuleThresholds(_Strict):
    unattended_s: float = Field(60, gt=0)
    absence_s: float = Field(30 * 60, gt=0)
    customer_waiting_s: float = Field(60, gt=0)
    slippers_s: float = Field(10, gt=0)
    eating_s: float = Field(10, gt=0)
    phone_s: float = Field(30, gt=0)
    dozing_s: float = Field(120, gt=0, description="head down / asleep at the post this long raises 睡岗")
    # Experimental: the slipper class was trained on catalogue product photos only (no worn-on-feet CCTV
    # data exists in the training sets), so the rule stays off unless a site turns it on.
    slippers_enabled: bool = Field(False, description="experimental slipper rule (no real on-feet training data)")
    behaviour_stage: bool = Field(True, description="run the shipped per-clerk behaviour model on clerk crops")
    camera_blind_s: float = Field(10, ge=0, description="blind this long before a camera health event")
    update_every_s: float = Field(60, gt=0, description="an open event repeats its state this often")
    eating_includes_drink: bool = False
    # Presence inertia: a clerk must be seen this long to count as arrived, and missed this long to
    # count as gone. Detection drop-outs shorter than leave_s never reach the rules.
    presence_enter_s: float = Field(1.0, ge=0)
    presence_leave_s: float = Field(4.0, ge=0)
    staff_min_overlap: float = Field(0.3, gt=0, le=1, description="share of a person box inside the staff zone")
    # Behaviour voting: K positive analysis frames among the last N.
    vote_k: int = Field(3, ge=1)
    vote_n: int = Field(5, ge=1)
    min_box_area: float = Field(0.0004, ge=0, description="objects smaller than this (frame fraction) ignored")

    @model_validator(mode="after")
    def _votes(self) -> RuleThresholds:
        if self.vote_k > self.vote_n:
            raise ValueError("vote_k must not exceed vote_n")
        return self


class DetectorSettings(_Strict):
    @field_validator("class_confidence")
    @classmethod
    def _known_classes(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(TAXONOMY))
        if unknown:
            raise ValueError(f"unknown class(es) {unknown}; the taxonomy is {list(TAXONOMY)}")
        return value

    model: Path | None = Field(default=None, description="ONNX file; default: models/manifest.json")
    precision: Literal["int8", "fp32"] = Field(
        "fp32", description="the shipped model's build: fp32, or int8 (models/quantize.py: ~1.4x faster network "
        "on one core, used only where the manifest records that it passed its accuracy checks against the float "
        "model; end to end no faster in `bench edge` here, README); ignored with `model`")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    confidence: float = Field(0.3, gt=0, lt=1)
    class_confidence: dict[str, Annotated[float, Field(gt=0, lt=1)]] = Field(
        default_factory=dict, description="per-class floors instead of `confidence`, e.g. {pause_sign: 0.01} "
        "so that the sign verifier sees the candidates it was calibrated on (its manifest min_det)")
    iou: float = Field(0.5, gt=0, lt=1)
    imgsz: int | None = Field(default=None, ge=32, le=1920, description="input size; default: the model's")
    crop_padding: float = Field(0.15, ge=0, le=1, description="zone union bbox padding (fraction)")
    crop_upscale: float | None = Field(
        default=None, ge=1, le=8, description="largest enlargement of a window's crop into the network input: "
        "a window whose crop is small (a far or low-resolution camera) runs at a smaller input, a multiple of 32 "
        "no smaller than `min_imgsz`, instead of being blown up to the full `imgsz` (2x fewer pixels at 224 "
        "than at 320); none: every window at the full size")
    min_imgsz: int = Field(224, ge=32, le=1920, description="smallest input `crop_upscale` may choose")
    clerk_zoom: float | None = Field(
        2.0, ge=1, le=16, description="a window whose crop is at least this many times the size of its staff "
        "zone's own (a large customers' side) also runs that staff-zone crop in the same batch and takes its "
        "clerk from there (edge/clerk_view.py): a far clerk is found far more often enlarged; none: one crop per "
        "window")
    threads: int = Field(1, ge=1, le=64)
    concurrent_runs: int = Field(
        2, ge=1, le=64, description="detector calls in flight at once across the node's cameras: each holds its "
        "own activations in onnxruntime's arena (~60 MB for four 320 px crops), so the arena grows with this, "
        "not with the number of cameras; more than the cores buys nothing")
    presence_verifier: bool = Field(True, description="second opinion on staff-zone person boxes (the "
                                    "manifest's presence verifier): an empty chair is not a clerk")


class AnalysisSettings(_Strict):
    """When a window is worth a detector pass (edge/schedule.py). The rules step on every analysis frame;
    only the detector (and the sign checks) are spent where something changed or a rule's rate asks."""

    gate: bool = Field(True, description="motion-gate the detector; false: every window on every frame")
    # Change detector (edge/motion.py): a grey thumbnail of each window crop against the one the held
    # detections were computed on.
    motion_width: int = Field(320, ge=32, le=1920, description="frame thumbnail width for change detection")
    motion_threshold: int = Field(20, ge=1, le=255, description="grey levels a thumbnail pixel must change by")
    motion_min_fraction: float = Field(0.004, gt=0, le=1, description="share of a window's pixels that must change")
    keepalive_s: float = Field(2.0, gt=0, description="a static, settled window is re-checked this often")
    # What each rule needs (edge/schedule.py RULE_RATES): absence, unattended, customers and the sign at
    # `presence_hz`; the phone / eating / slippers votes at `behaviour_hz` while a clerk is present.
    presence_hz: float = Field(1.0, gt=0, le=30)
    behaviour_hz: float = Field(2.0, gt=0, le=30)
    sign_while_attended: bool = Field(
        False, description="run the sign checks (ArUco, verifier, OCR) on attended, settled windows too")


class SignSettings(_Strict):
    aruco: bool = True
    ocr: bool = True
    ocr_every_s: float = Field(3.0, gt=0)
    detector: bool = True
    # A sign hides an absence, so the detector cue keeps its own bar: the detector's global confidence may
    # be set low for people seen from above without letting look-alike placards count as a pause sign.
    detector_min_score: float = Field(0.4, gt=0, lt=1)
    # The second-stage verifier (models/manifest.json -> sign_verifier) replaces that bar when it ships one
    # for the running detector: candidates are re-scored and compared with its calibrated threshold.
    verifier: bool = Field(True, description="re-score detector pause signs with the manifest's verifier")
    verifier_min_score: float | None = Field(
        default=None, gt=0, lt=1, description="bar for the re-scored sign; default: the manifest's threshold")
    votes_k: int = Field(2, ge=1)
    votes_n: int = Field(3, ge=1)
    hold_s: float = Field(6.0, ge=0, description="a sign stays 'up' this long after its last sighting")


class EvidenceSettings(_Strict):
    enabled: bool = True
    dir: Path = Path("var/edge/evidence")
    pre_roll_s: float = Field(10.0, ge=0, le=60)
    post_roll_s: float = Field(10.0, ge=0, le=60)
    blur_customer_faces: bool = True
    max_width: int = Field(1280, ge=160)
    jpeg_quality: int = Field(80, ge=10, le=100)


class EdgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CW_EDGE_")

    site: SegmentId
    device: SegmentId
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    cameras: list[CameraConfig] = Field(default_factory=list)
    rules: RuleThresholds = Field(default_factory=RuleThresholds)
    service_hours: ServiceHours = Field(default_factory=ServiceHours)
    sign: SignSettings = Field(default_factory=SignSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    heartbeat_s: float = Field(30.0, gt=0)
    state_refresh_s: float = Field(300.0, gt=0, description="re-publish window state this often")
    log_level: Literal["debug", "info", "warning"] = "info"

    @model_validator(mode="after")
    def _unique_cameras(self) -> EdgeSettings:
        ids = [c.id for c in self.cameras]
        if len(ids) != len(set(ids)):
            raise ValueError(f"camera ids repeat: {ids}")
        return self

    def hours_for(self, window: WindowConfig) -> ServiceHours:
        return window.service_hours or self.service_hours
