"""Per-camera analysis: frame -> detections on window crops -> zones -> cues -> rules -> messages.

Stage timings are kept per camera (``StageTimer``) for the benchmark and the heartbeat. Everything here
runs on the camera's analysis thread except OCR and clip encoding, which have their own workers.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from broker.boxes import DETAILS_KEY as BOXES_KEY
from broker.boxes import MAX_BOXES, LabelledBox, encode_boxes
from broker.payloads import FPS_MAX, CameraHealth, EventMessage, EventPhase, StateMessage
from edge.behaviours import Vote, eating_score, phone_score, slippers_score, stage_score
from edge.clerk_stage import ClerkStage
from edge.clerk_view import clerk_view, merge_views
from edge.detect import Detection, Detector, DetectorHolder
from edge.evidence.recorder import EvidenceReady, EvidenceRecorder, annotate, blur_customer_heads
from edge.health import CameraHealthMonitor
from edge.motion import ChangeDetector, Thumbnail, thumbnail
from edge.presence import PresenceStage
from edge.rules.engine import Observation, WindowRules, rule_specs
from edge.schedule import Reason, WindowSchedule
from edge.settings import CameraConfig, EdgeSettings, SignSettings, WindowConfig
from edge.sign import ArucoReader, OcrWorker, SignDetectorCue, SignVote, is_pause_text, marker_id
from edge.sources import Frame
from edge.verdicts import VerdictMemory
from edge.zones import PresenceFilter, Zone, union_bbox
from vision.clerk import CUE_CONFIDENCE, CUE_LABELS

log = logging.getLogger(__name__)

Emit = Callable[[BaseModel], None]


class StageTimer:
    """CPU seconds of the calling (analysis) thread, per stage and per whole frame.

    Thread CPU time, not wall time: what a core can carry is a CPU figure, and wall time on a busy box
    also counts other processes (that is how 'other' once came out negative). Whatever a frame spends
    outside the named stages is ``pipeline_other``, so the stages always add up to the frame's cost."""

    clock = staticmethod(time.thread_time)

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self.frame_s = 0.0
        self.frames = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = self.clock()
        try:
            yield
        finally:
            self.total[name] += self.clock() - t
            self.count[name] += 1

    @contextmanager
    def frame(self) -> Iterator[None]:
        t = self.clock()
        try:
            yield
        finally:
            self.frame_s += self.clock() - t
            self.frames += 1

    def ms_per_frame(self, frames: int | None = None) -> dict[str, float]:
        n = max(1, self.frames if frames is None else frames)
        out = {k: v * 1000 / n for k, v in self.total.items()}
        if self.frames:
            out["pipeline_other"] = max(0.0, (self.frame_s - sum(self.total.values())) * 1000 / n)
        return {k: round(v, 3) for k, v in out.items()}


@lru_cache(maxsize=4)
def shared_sign_cue(settings: SignSettings) -> SignDetectorCue:
    """One sign verifier (one onnxruntime session) for every camera of the node, not one each."""
    return SignDetectorCue.from_settings(settings)


@lru_cache(maxsize=1)
def shared_presence_stage() -> PresenceStage | None:
    """One presence network (~10 MB of weights plus its arena) for every camera of the node; each camera
    takes :meth:`PresenceStage.for_camera` of it, its own verdicts."""
    return PresenceStage.from_manifest()


@lru_cache(maxsize=1)
def shared_clerk_stage() -> ClerkStage | None:
    """One behaviour network (one onnxruntime session, ~11 MB) for every camera of the node."""
    return ClerkStage.from_manifest()


def _window_number(window: WindowConfig) -> int | None:
    if window.number is not None:
        return window.number
    digits = re.findall(r"\d+", window.id)
    return int(digits[-1]) if digits else None


@dataclass
class WindowAnalyser:
    """Zones, cue votes and rules of one window."""

    config: WindowConfig
    rules: WindowRules
    settings: EdgeSettings
    frame_size: tuple[int, int]
    staff: Zone = field(init=False)
    counter: Zone | None = field(init=False)
    floor: Zone | None = field(init=False)
    customer: Zone | None = field(init=False)
    crop: tuple[int, int, int, int] = field(init=False)
    clerk_crop: tuple[int, int, int, int] | None = field(init=False)  # edge/clerk_view.py
    sign_min_score: float | None = None  # the detector cue's bar this frame (SignDetectorCue.min_score)

    def __post_init__(self) -> None:
        z, size = self.config.zones, self.frame_size
        self.staff = Zone(z.staff, size)
        self.counter = Zone(z.counter, size) if z.counter else None
        self.floor = Zone(z.floor, size) if z.floor else None
        self.customer = Zone(z.customer, size) if z.customer else None
        # The detector looks where people and their objects are; the counter (sign) has its own cues.
        looked_at = [zone for zone in (self.staff, self.customer, self.floor) if zone is not None]
        self.crop = union_bbox(looked_at, self.settings.detector.crop_padding, size)
        d = self.settings.detector
        # A far clerk shrunk by a large customers' side is looked for in the staff zone's own crop too.
        self.clerk_crop = clerk_view(self.crop, union_bbox([self.staff], d.crop_padding, size), d.clerk_zoom)
        side = max(self.crop[2] - self.crop[0], self.crop[3] - self.crop[1])
        # The network input this window asks for (None: the detector's own): a small crop is enlarged at
        # most ``crop_upscale`` times, to a multiple of 32 (the detector caps it at its own size).
        self.input_size = (None if d.crop_upscale is None
                           else max(d.min_imgsz, 32 * math.ceil(side * d.crop_upscale / 32)))
        t = self.settings.rules
        self.presence = PresenceFilter(t.presence_enter_s, t.presence_leave_s)
        self.customers = PresenceFilter(t.presence_enter_s, t.presence_leave_s)
        s = self.settings.sign
        self.sign = SignVote(s.votes_k, s.votes_n, s.hold_s)
        self.votes = {name: Vote(t.vote_k, t.vote_n) for name in ("slippers", "eating", "phone", "dozing")}
        number = _window_number(self.config)
        self.marker = marker_id(number) if number is not None else None
        self.ocr_hit = False
        self.last_detections: list[Detection] = []
        # The clerk stage's last scores (phone (score, kind), eating, dozing), reused while the gate holds,
        # and when they were computed.
        self._stage_scores: tuple[tuple[float, str | None], float, float] | None = None
        self.stage_at: datetime | None = None

    def stage_due(self, at: datetime, period: float) -> bool:
        """The behaviour votes the clerk stage feeds need ``behaviour_hz`` (edge/schedule.py): a window looked
        at every frame while its presence settles still runs the stage no more often than that."""
        hz = self.settings.analysis.behaviour_hz
        return self.stage_at is None or (at - self.stage_at).total_seconds() + period - 1e-6 > 1 / hz

    def is_clerk(self, d: Detection) -> bool:
        """A person in the staff zone, as :meth:`observe` counts them."""
        w, h = self.frame_size
        return (d.label == "person" and d.area >= self.settings.rules.min_box_area * w * h
                and self.staff.holds(d.box, "area", self.settings.rules.staff_min_overlap))

    @property
    def zones(self) -> list[Zone]:
        return [z for z in (self.staff, self.counter, self.floor, self.customer) if z is not None]

    def sees_marker(self, markers: list[tuple[int, npt.NDArray[np.float32]]]) -> bool:
        if self.counter is None:
            return False
        return any((self.marker is None or mid == self.marker) and self.counter.contains(*corners.mean(axis=0))
                   for mid, corners in markers)

    def observe(self, at: datetime, detections: list[Detection], markers: list[tuple[int, npt.NDArray[np.float32]]],
                health: str, image: npt.NDArray[np.uint8] | None = None, stage: ClerkStage | None = None,
                fresh: bool = True, health_since: datetime | None = None,
                cues: list[Detection] | None = None) -> Observation:
        """``fresh``: the detections come from a detector pass on this frame; a held window (motion gate)
        reuses the second stage's last verdict rather than re-running it on boxes it already judged.
        ``cues``: the stage's object candidates down to its cue floor (default: the detections' own)."""
        t = self.settings.rules
        w, h = self.frame_size
        min_area = t.min_box_area * w * h
        dets = [d for d in detections if d.area >= min_area]
        self.last_detections = dets
        people = [d for d in dets if d.label == "person"]
        clerks = [p for p in people if self.staff.holds(p.box, "area", t.staff_min_overlap)]
        waiting = [p for p in people if p not in clerks and self.customer is not None
                   and self.customer.holds(p.box, "bottom_centre")]
        if health != "ok":
            self.presence.reset()
            self.customers.reset()
            self.sign.reset()
            for vote in self.votes.values():
                vote.reset()
            return Observation(at=at, observed=False, blind_status=health, blind_since=health_since)
        present, count = self.presence.update(at, len(clerks))
        _, customers = self.customers.update(at, len(waiting))
        best = max((p.score for p in clerks), default=0.0)
        sign_on = self.sign.update(
            at,
            aruco=self.settings.sign.aruco and self.sees_marker(markers),
            ocr=self.settings.sign.ocr and self.ocr_hit,
            detector=self.settings.sign.detector and self.counter is not None and any(
                d.label == "pause_sign" and d.score >= (self.sign_min_score or self.settings.sign.detector_min_score)
                and self.counter.overlap(d.box) > 0.3 for d in dets),
        )
        phones = [d for d in dets if d.label == "phone"]
        food = [d for d in dets if d.label == "food" or (t.eating_includes_drink and d.label == "drink")]
        footwear = [d for d in dets if d.label in ("slipper", "shoe")]
        p_score, p_kind = phone_score(clerks, phones)
        e_score, d_score = eating_score(clerks, food), 0.0
        if stage is not None and image is not None and clerks:  # second stage on the clerks' crops
            # The 吃东西 rule takes the stage's eating column, and its drinking column only where the hall
            # forbids drinking too (a sip of water at the counter is allowed by most halls' rules).
            eat_columns = ("eating", "drinking") if t.eating_includes_drink else ("eating",)
            if fresh or self._stage_scores is None:
                self.stage_at = at
                objects = cues if cues is not None else [d for d in dets if d.label in CUE_LABELS]
                verdicts = stage.verdicts(image, clerks, objects)
                self._stage_scores = (
                    stage_score(verdicts, "phone_use"),
                    max(stage_score(verdicts, c)[0] for c in eat_columns),
                    stage_score(verdicts, "dozing")[0],
                )
            (phone_verdict, eat_verdict, d_score) = self._stage_scores
            if stage.handles("phone_use"):
                p_score, p_kind = phone_verdict
            if any(stage.handles(c) for c in eat_columns):
                e_score = eat_verdict
        else:
            self._stage_scores = None
        return Observation(
            at=at, observed=True, present=present, staff_count=count,
            presence_confidence=best if present else 1.0 - best,
            customers=customers, sign=sign_on, sign_cue=self.sign.cue,
            slippers=self.votes["slippers"].update(slippers_score(footwear, self.floor)),
            eating=self.votes["eating"].update(e_score),
            phone=self.votes["phone"].update(p_score, p_kind),
            dozing=self.votes["dozing"].update(d_score),
        )


SETTLE_PASSES = 3  # passes in a row that must agree with the debounced presence before a window is held
# Passes in a row, on a picture unchanged since the last agreeing one, that must disagree with the debounced
# presence before the disagreement is believed: the first, then one re-check at the presence rate (a second
# later, when the detector's borderline scores have had the noise of other frames).
CONFIRM_PASSES = 2


@dataclass
class _Gate:
    """A window's detector gate: what changed since its last pass, when the next is due, and what it saw."""

    change: ChangeDetector
    schedule: WindowSchedule
    held: list[Detection] = field(default_factory=list)  # detections of the last pass (sign re-scored)
    cues: list[Detection] | None = None  # the last pass's cue candidates for the clerk stage, at its own floor
    markers: list[tuple[int, npt.NDArray[np.float32]]] = field(default_factory=list)
    sha256: str | None = None  # the model that produced ``held``
    sign_checks: bool = True  # the sign cues are looked at on this window's passes (unattended or unsettled)

    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=SETTLE_PASSES))  # clerk seen, last passes

    def saw_clerk(self, seen: bool) -> None:
        self.recent.append(seen)

    reason: Reason | None = None  # why the last pass ran
    moved: bool = True  # the picture had changed since the reference when the last pass was decided
    streak: int = 0  # disagreeing passes in a row on an unchanged picture, held as the detector's flicker

    def judge(self, window: WindowAnalyser, detections: list[Detection], thumb: Thumbnail) -> list[Detection]:
        """What a fresh pass's detections mean for the window's clerk; the detections to hold.

        The change detector's reference is the picture of the last pass whose verdict stands. A pass of a
        settled window that disagrees with the debounced presence is not believed at once when it looks at a
        picture unchanged since that reference (keep-alive, re-check): that is the same scene judged
        differently, the detector's flicker on a borderline score, and the window is re-checked at the
        presence rate. Nor is a miss of a present clerk on a changed picture, which is re-checked on the very
        next frame. Meanwhile the clerk is held as they were. Only ``CONFIRM_PASSES`` disagreements in a row
        are believed; then every frame is looked at until the hysteresis settles, as without a gate. A clerk
        seen at an empty desk whose picture changed is believed at once: an arrival is never held back."""
        present = window.presence.present
        seen = any(window.is_clerk(d) for d in detections)
        settled = self.reason in (Reason.MOTION, Reason.KEEPALIVE, Reason.CONFIRM)
        doubted = settled and seen != present and (present or not self.moved)
        if doubted and self.streak + 1 < CONFIRM_PASSES:
            self.streak += 1
            if present:  # missed: the clerk's boxes of the pass that saw them
                detections = detections + [d for d in self.held if window.is_clerk(d)]
            else:  # a clerk where the same picture had none: not counted, and not held
                detections = [d for d in detections if not window.is_clerk(d)]
            self.saw_clerk(present)
            return detections
        self.streak = 0
        self.change.settle(thumb)
        self.saw_clerk(seen)
        return detections

    def unsettled(self, present: bool) -> bool:
        """Absent: the last passes must all agree that nobody is there, so that one missed look at a clerk
        who is there is never held. Present: the last pass must have seen the clerk (after a miss, every
        frame is looked at until the clerk is found again or the presence hysteresis lets them go)."""
        if present:
            return not self.recent or not self.recent[-1]
        return len(self.recent) < SETTLE_PASSES or any(self.recent)


class CameraPipeline:
    def __init__(
        self,
        camera: CameraConfig,
        settings: EdgeSettings,
        detector: DetectorHolder,
        emit: Emit,
        *,
        on_evidence: Callable[[EvidenceReady], None] | None = None,
        ocr: OcrWorker | None = None,
    ) -> None:
        self.camera, self.settings, self.detector, self.emit = camera, settings, detector, emit
        self.health = CameraHealthMonitor()
        self.timer = StageTimer()
        self.frames = 0
        self.aruco = ArucoReader()
        self.sign_cue = shared_sign_cue(settings.sign)
        self.sign_verdicts = VerdictMemory()  # this camera's: the shared cue keeps no state
        self.ocr = ocr
        self._ocr_due: datetime | None = None
        self.windows: list[WindowAnalyser] = []
        self._on_evidence = on_evidence
        self.recorder: EvidenceRecorder | None = None
        self._health_sent: str | None = None
        self._last_at: datetime | None = None
        self._started = time.monotonic()
        self.clerk_stage = shared_clerk_stage() if settings.rules.behaviour_stage else None
        # Per camera: its windows' last verdicts, on the node's one presence network.
        shared_presence = shared_presence_stage() if settings.detector.presence_verifier else None
        self.presence_stage = shared_presence.for_camera() if shared_presence is not None else None
        self._period = 1 / camera.analysis_fps
        self.lag_s = 0.0
        self.gates: list[_Gate] = []

    # -- setup on the first frame (zones need the frame size) ---------------------------------------------

    def _setup(self, size: tuple[int, int]) -> None:
        s = self.settings
        self.windows = [
            WindowAnalyser(
                config=w, settings=s, frame_size=size,
                rules=WindowRules(site=s.site, device=s.device, camera=self.camera.id, window=w.id,
                                  thresholds=s.rules, hours=s.hours_for(w), state_refresh_s=s.state_refresh_s,
                                  model_version=self.detector.current.version),
            )
            for w in self.camera.windows
        ]
        counters = [w.counter for w in self.windows if w.counter is not None]
        self.counter_crop = union_bbox(counters, 0.05, size) if counters else None
        self.frame_size = size
        a = s.analysis
        rules = tuple(spec.rule for spec in rule_specs(s.rules))
        self.gates = [_Gate(ChangeDetector(wa.crop, a.motion_threshold, a.motion_min_fraction),
                            WindowSchedule(a, rules)) for wa in self.windows]
        self._frame_change = ChangeDetector((0, 0, *size), a.motion_threshold, a.motion_min_fraction)
        self._blur_key: tuple[tuple[float, float, float, float], ...] | None = None
        if s.evidence.enabled and self._on_evidence is not None:
            self.recorder = EvidenceRecorder(
                self.camera.id, s.evidence.dir / self.camera.id, fps=self.camera.analysis_fps,
                pre_roll_s=s.evidence.pre_roll_s, post_roll_s=s.evidence.post_roll_s,
                max_width=s.evidence.max_width, jpeg_quality=s.evidence.jpeg_quality, on_ready=self._on_evidence,
            )

    # -- per frame ----------------------------------------------------------------------------------------

    def process(self, frame: Frame, *, forced: bool = False) -> None:
        """One analysis frame. ``forced``: a detector pass on every window whatever the gate says."""
        with self.timer.frame():
            self._process(frame, forced)

    def _process(self, frame: Frame, forced: bool) -> None:
        image = frame.image
        h, w = image.shape[:2]
        if not self.windows:
            self._setup((w, h))
        self.frames += 1
        self._last_at = frame.at
        # How far analysis runs behind the frame's time (live or paced file sources; a replay has none).
        self.lag_s = (datetime.now(UTC) - frame.at).total_seconds()
        a = self.settings.analysis
        with self.timer.stage("motion"):
            thumb = thumbnail(image, a.motion_width)
        with self.timer.stage("health"):
            status = self.health.on_frame(thumb.small, frame.at)
        self._emit_health(frame.at)
        detector = self.detector.current
        with self.timer.stage("motion"):
            due: list[int] = []
            for i, (wa, gate) in enumerate(zip(self.windows, self.gates, strict=True)):
                if status != "ok" or gate.sha256 != detector.sha256:
                    gate.schedule.reset()
                    gate.recent.clear()  # blind (the rules pause anyway) or a new model: look afresh after
                    gate.streak = 0
                    gate.sha256 = detector.sha256 if status == "ok" else None
                if status != "ok":
                    continue
                unsettled = gate.unsettled(wa.presence.present) or wa.presence.arriving() or wa.customers.arriving()
                moved = gate.change.moved(thumb)
                reason = gate.schedule.decide(frame.at, period=self._period, moved=moved,
                                              present=wa.presence.present, unsettled=unsettled, forced=forced,
                                              confirming=gate.streak > 0)
                if reason is not None:
                    gate.reason, gate.moved = reason, moved
                    gate.sign_checks = (a.sign_while_attended or not wa.presence.present or unsettled
                                        or gate.streak > 0)
                    due.append(i)
        stage = self.clerk_stage if self.clerk_stage and self.clerk_stage.active(detector.source_sha256) else None
        if due:
            cue_floors = {label: min(detector.floor(label), CUE_CONFIDENCE) for label in CUE_LABELS} if stage else {}
            with self.timer.stage("inference"), self.detector.slots:  # one batched call per input size
                fresh = self._detect(detector, image, due, cue_floors)
            if stage is not None:  # the stage's cues at its floor; everything else at the detector's own
                for i, dets in zip(due, fresh, strict=True):
                    self.gates[i].cues = [d for d in dets if d.label in CUE_LABELS]
                fresh = [[d for d in dets if d.score >= detector.floor(d.label)] for dets in fresh]
            if self.presence_stage is not None:  # furniture the detector took for a clerk never counts
                # Each candidate's own picture decides whether its verdict is reused: motion elsewhere in the
                # window (a colleague walking past) does not make a still clerk's box new.
                with self.timer.stage("presence"):
                    fresh = [self.presence_stage.verify(image, dets, self.windows[i].is_clerk, detector.source_sha256)
                             for i, dets in zip(due, fresh, strict=True)]
            with self.timer.stage("sign"):  # second-stage verifier, only where the sign can matter
                for i, dets in zip(due, fresh, strict=True):
                    gate, wa = self.gates[i], self.windows[i]
                    dets = gate.judge(wa, dets, thumb)
                    gate.held = (self.sign_cue.rescore(image, dets, detector.source_sha256, memory=self.sign_verdicts,
                                                       window=i) if gate.sign_checks
                                 else [d for d in dets if d.label != "pause_sign"])
        with self.timer.stage("sign"):
            self._markers(image, due, status)
        self._maybe_ocr(frame)
        with self.timer.stage("rules"):
            outputs: list[tuple[WindowAnalyser, EventMessage | StateMessage]] = []
            every_frame = forced or not self.settings.analysis.gate
            fresh_windows = {i for i in due if every_frame or self.windows[i].stage_due(frame.at, self._period)}
            for wa_index, (wa, gate) in enumerate(zip(self.windows, self.gates, strict=True)):
                wa.rules.model_version = detector.version
                wa.sign_min_score = self.sign_cue.min_score(detector.source_sha256)
                if not gate.sign_checks:
                    wa.ocr_hit = False
                obs = wa.observe(frame.at, gate.held if status == "ok" else [], gate.markers, status, image=image,
                                 stage=stage, fresh=wa_index in fresh_windows, health_since=self.health.since,
                                 cues=gate.cues)
                outputs.extend((wa, m) for m in wa.rules.step(obs))
        if self.recorder is not None:
            with self.timer.stage("encode"):
                self._record(image, thumb, outputs, frame.at)
        with self.timer.stage("emit"):
            for _, message in outputs:
                self.emit(message)

    def _detect(self, detector: Detector, image: npt.NDArray[np.uint8], due: list[int],
                class_confidence: dict[str, float]) -> list[list[Detection]]:
        """Detections of the windows ``due``, in order: the windows that share an input size share a call."""
        out: dict[int, list[Detection]] = {}
        for size in dict.fromkeys(detector.input_size(self.windows[i].input_size) for i in due):
            group = [i for i in due if detector.input_size(self.windows[i].input_size) == size]
            zoomed = [(i, c) for i in group if (c := self.windows[i].clerk_crop) is not None]
            rects = [self.windows[i].crop for i in group] + [c for _, c in zoomed]
            found = detector.detect_crops(image, rects, size=size[0], class_confidence=class_confidence)
            out.update(zip(group, found[:len(group)], strict=True))
            for (i, _), dets in zip(zoomed, found[len(group):], strict=True):
                out[i] = merge_views(out[i], dets, self.windows[i].is_clerk, detector.iou)
        return [out[i] for i in due]

    def _markers(self, image: npt.NDArray[np.uint8], due: list[int], status: str) -> None:
        """ArUco on the counters of the windows whose sign is checked on this frame; the others keep theirs."""
        looking = [i for i in due if self.gates[i].sign_checks and self.windows[i].counter is not None]
        for i in due:
            self.gates[i].markers = []
        if not looking or not self.settings.sign.aruco or status != "ok":
            return
        counters = [z for i in looking if (z := self.windows[i].counter) is not None]
        x1, y1, x2, y2 = union_bbox(counters, 0.05, self.frame_size)
        markers = [(mid, c + np.array([x1, y1], np.float32)) for mid, c in self.aruco.markers(image[y1:y2, x1:x2])]
        for i in looking:
            self.gates[i].markers = markers

    def _record(self, image: npt.NDArray[np.uint8], thumb: Thumbnail,
                outputs: list[tuple[WindowAnalyser, EventMessage | StateMessage]], at: datetime) -> None:
        """Pre-roll frame (and evidence for new events). A picture that has not changed since the last one
        encoded, with the same boxes to blur, is stored as that frame's JPEG again: no second encode."""
        assert self.recorder is not None
        starts = any(isinstance(m, EventMessage) and m.phase is EventPhase.START for _, m in outputs)
        blur_key = tuple(d.box for wa in self.windows for d in wa.last_detections if d.label == "person")
        same = (not starts and self.recorder.has_frames and blur_key == self._blur_key
                and not self._frame_change.moved(thumb))
        if same:
            self.recorder.repeat_frame(at)
            return
        self._frame_change.settle(thumb)
        self._blur_key = blur_key
        evidence_image = self._privacy(image)
        self._evidence_for(outputs, evidence_image)
        self.recorder.add_frame(evidence_image, at)

    def _privacy(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        if not self.settings.evidence.blur_customer_faces:
            return image
        customer_zones = [wa.customer for wa in self.windows if wa.customer is not None]
        if not customer_zones:
            return image
        people = [d for wa in self.windows for d in wa.last_detections if d.label == "person"]
        out = image.copy()
        blur_customer_heads(out, people, customer_zones)
        return out

    def _evidence_for(self, outputs: list[tuple[WindowAnalyser, EventMessage | StateMessage]],
                      image: npt.NDArray[np.uint8]) -> None:
        assert self.recorder is not None
        for i, (wa, message) in enumerate(outputs):
            if not isinstance(message, EventMessage) or message.phase is not EventPhase.START:
                continue
            if message.rule.is_camera_health:
                continue
            picture = annotate(image, wa.last_detections, wa.zones,
                               f"{wa.config.id} {message.rule.value}")
            snap = self.recorder.snapshot(message.event_id, picture)
            wa.rules.record_evidence(message.event_id, [snap.ref])
            # What the model saw, in snapshot pixels: a supervisor's verdict turns it into training data.
            boxes = snapshot_boxes(wa.last_detections, self.recorder.snapshot_scale(image.shape[1]),
                                   image.shape[1], image.shape[0])
            message = message.model_copy(update={"evidence": [*message.evidence, snap.ref],
                                                 "details": {**message.details, BOXES_KEY: boxes}})
            outputs[i] = (wa, message)
            if self._on_evidence is not None:
                self._on_evidence(snap)
            self.recorder.request_clip(message)  # keeps the message: re-sent with the clip after a crash

    def _maybe_ocr(self, frame: Frame) -> None:
        if self.ocr is None or self.counter_crop is None or not self.settings.sign.ocr:
            return
        if not any(g.sign_checks for g in self.gates):  # every window attended and settled: no sign to read
            return
        if self._ocr_due is not None and frame.at < self._ocr_due:
            return
        x1, y1, x2, y2 = self.counter_crop
        crop = frame.image[y1:y2, x1:x2].copy()

        def done(lines: list[tuple[npt.NDArray[np.float32], str, float]]) -> None:
            for wa in self.windows:
                wa.ocr_hit = wa.counter is not None and any(
                    is_pause_text(text) and wa.counter.contains(*(quad.mean(axis=0) + np.array([x1, y1])))
                    for quad, text, _ in lines)

        if self.ocr.submit(crop, done):
            self._ocr_due = frame.at + timedelta(seconds=self.settings.sign.ocr_every_s)

    # -- without frames -----------------------------------------------------------------------------------

    def blind(self, at: datetime, detail: str) -> None:
        """The source is gone: the camera is offline; its windows are unobserved (never 'absent')."""
        self.health.on_lost(at, detail)
        self._advance(at)

    def tick(self, at: datetime) -> None:
        """No frame for a while (live sources): let health and rules move on the wall clock."""
        if self._last_at is not None and at <= self._last_at:
            return
        self.health.tick(at)
        if not self.health.observed:
            self._advance(at)

    def _advance(self, at: datetime) -> None:
        self._emit_health(at)
        self._last_at = at
        for wa in self.windows:
            for message in wa.rules.step(wa.observe(at, [], [], self.health.status,
                                                    health_since=self.health.since)):
                self.emit(message)

    def finish(self, at: datetime, reason: str = "source_ended") -> None:
        for wa in self.windows:
            for message in wa.rules.close_all(at, reason):
                self.emit(message)
        if self.recorder is not None:
            self.recorder.flush()

    def attach(self, ready: EvidenceReady, at: datetime) -> bool:
        """A clip finished encoding: send it as the event's next message. False: no window knows the event."""
        for wa in self.windows:
            message = wa.rules.attach_evidence(ready.event_id, [ready.ref], at)
            if message is not None:
                self.emit(message)
                return True
        return False

    def _emit_health(self, at: datetime) -> None:
        status = self.health.status
        if status == self._health_sent:
            return
        self._health_sent = status
        elapsed = max(1e-6, time.monotonic() - self._started)
        self.emit(CameraHealth(
            site=self.settings.site, device=self.settings.device, camera=self.camera.id, at=at, status=status,
            # A file replayed faster than real time can exceed the contract's bound: report the bound.
            fps=min(round(self.frames / elapsed, 2), FPS_MAX), last_frame_at=self.health.last_frame_at,
            detail=self.health.detail or None,
        ))


def snapshot_boxes(detections: Sequence[Detection], scale: float, width: int, height: int) -> str:
    """The detections as an event's ``boxes`` detail (broker/boxes.py): clipped to the frame, scaled to the
    snapshot, the most confident first when there are more than fit."""
    boxes = []
    for d in sorted(detections, key=lambda d: -d.score)[:MAX_BOXES]:
        x1, y1 = max(0.0, d.box[0]), max(0.0, d.box[1])
        x2, y2 = min(float(width), d.box[2]), min(float(height), d.box[3])
        if x2 - x1 >= 1 and y2 - y1 >= 1:
            boxes.append(LabelledBox(d.label, x1 * scale, y1 * scale, x2 * scale, y2 * scale))
    return encode_boxes(boxes)
