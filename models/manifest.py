"""The shipped model's manifest (models/manifest.json) and its verification.

The edge reads ``file`` and ``sha256`` through :func:`verify` before loading a model, so a truncated or
swapped file is refused with a clear error instead of producing silent garbage detections.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from models.metrics import ClassMetrics, GroupRecall
from models.person_metrics import PersonEvaluation
from vision import operating
from vision.identity import sha256_file

MANIFEST_NAME = "manifest.json"


class ManifestError(ValueError):
    """The manifest is missing, malformed or does not match its model file."""


class InputSpec(BaseModel):
    imgsz: int
    layout: str = "NCHW float32 RGB in [0,1], letterboxed with gray 114 padding"
    output: str = "(N, 4 + nc, anchors): cx, cy, w, h in input pixels, then per-class sigmoid scores"
    dynamic_batch: bool = True
    opset: int = 17


class DataSource(BaseModel):
    name: str
    role: str
    licence: str
    proxy: bool = False
    caveat: str = ""


class OperatingPoint(BaseModel):
    """How detections were produced for an evaluation: by default, exactly as the edge produces them."""

    model_config = ConfigDict(extra="forbid")

    call: str = operating.CALL
    crops: str = operating.CROPS
    iou: float = operating.IOU  # NMS overlap
    confidence: float = operating.CONFIDENCE  # precision / recall are read here
    labels: str = operating.LABELS
    imgsz: int | None = None


class Evaluation(BaseModel):
    """One evaluation run of the model (or the teacher) on one labelled split."""

    data: str
    description: str
    images: int
    ms_per_image_mean: float | None = None
    classes: dict[str, ClassMetrics]
    # None: measured before the vision core (its own YOLO code, NMS IoU 0.7, P/R@0.25), not as the edge runs
    operating_point: OperatingPoint | None = None


class AcceptanceCheck(BaseModel):
    name: str
    value: float
    threshold: float
    passed: bool
    detail: str = ""


class Training(BaseModel):
    run_id: str
    init_weights: str
    settings: dict[str, Any] = Field(default_factory=dict)
    epochs_completed: int | None = None


class VerifierInput(BaseModel):
    size: int  # square crop side, pixels
    margin: float  # context added on every side of the detector box, fraction of its width / height
    layout: str = "NCHW float32 RGB in [0,1]: box + margin cut from the full frame (gray 114 outside), resized"
    output: str = "(N, 1) P(pause sign), sigmoid applied"
    opset: int = 17


class SignVerifier(BaseModel):
    """The second-stage pause-sign verifier (models/signverify.py) that re-scores the detector's
    ``pause_sign`` candidates: final = det ** (1 - weight) * p ** weight."""

    file: str  # relative to the manifest's folder
    sha256: str
    size_bytes: int
    input: VerifierInput
    min_det: float  # candidates below this detector score are dropped, never verified
    weight: float
    threshold: float  # operating point on the final score (chosen on val for precision >= 0.95)
    # Overlap suppression among the re-scored candidates (models.signverify.suppress); None: none.
    suppress_iou: float | None = None
    suppress_containment: float | None = None
    detector_sha256: str  # the detector whose candidates it was trained on and calibrated for
    training: Training
    data_counts: dict[str, Any]
    ms_per_crop_mean: float | None = None
    metrics: dict[str, Evaluation] = Field(default_factory=dict)  # two-stage (detector + verifier) runs
    # Per run of ``metrics``: pause-sign recall per group (layout, second line, small) at the threshold.
    sign_groups: dict[str, dict[str, GroupRecall]] = Field(default_factory=dict)
    caveats: list[str] = Field(default_factory=list)


class BehaviourInput(BaseModel):
    size: int  # square crop side, pixels
    margin: float  # context added on every side of the person box, fraction of its width / height
    layout: str = ("images: NCHW float32 RGB in [0,1], person box + margin cut from the frame (gray 114 outside), "
                   "letterboxed; cues: (N, 3) best phone score with its centre in the grown box, that phone's "
                   "height in the box (0 top .. 1 bottom), best food/drink score")
    output: str = "probs (N, len(classes)), softmax"
    opset: int = 17


class BehaviourStage(BaseModel):
    """The per-clerk second stage (models/behaviour.py): frozen detector neck features + a trained head,
    run on each clerk's crop. A behaviour missing from ``classes`` had no training data and never fires."""

    file: str  # relative to the manifest's folder
    sha256: str
    size_bytes: int
    input: BehaviourInput
    classes: list[str]
    thresholds: dict[str, float]  # per class: P(class) at or above this is a verdict (chosen without val)
    detector_sha256: str  # the detector whose network the features are cut from and whose cues it saw
    training: Training
    data_counts: dict[str, Any]
    ms_per_crop_mean: float | None = None
    metrics: dict[str, PersonEvaluation] = Field(default_factory=dict)
    caveats: list[str] = Field(default_factory=list)


class PresenceInput(BaseModel):
    size: int  # the teacher's square input, pixels
    margin: float  # context added on every side of the candidate box, fraction of its width / height
    iou: float  # teacher predictions overlapping the candidate at least this much answer for it
    layout: str = ("NCHW float32 RGB in [0,1]: candidate box + margin cut from the frame (clipped), letterboxed; "
                   "a COCO YOLO detect head (Ultralytics layout), read by vision/presence.py")


class PresenceHeadSpec(BaseModel):
    cues: list[str]
    mean: list[float]
    std: list[float]
    weight: list[float]
    bias: float


class PresenceStage(BaseModel):
    """The presence verifier (vision/presence.py, models/presence_*.py): the COCO teacher's scores on each
    staff-zone person candidate + a logistic head; candidates under ``threshold`` are not clerks."""

    file: str  # relative to the manifest's folder
    sha256: str
    size_bytes: int
    licence: str
    input: PresenceInput
    head: PresenceHeadSpec
    threshold: float  # chosen by grouped CV inside the training sets (person recall target)
    detector_sha256: str  # the detector whose candidates and scores the head was fitted on
    training: dict[str, Any]
    data_counts: dict[str, Any]
    ms_per_candidate_mean: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    caveats: list[str] = Field(default_factory=list)


class Int8Build(BaseModel):
    """The detector's static int8 build (models/quantize.py): the same network, cheaper on a CPU. Second
    stages calibrated on the float detector (``source_sha256``) serve it too; ``checks`` holds both files'
    figures on the same data and ``passed`` whether no class lost more than 0.01 AP50."""

    file: str  # relative to the manifest's folder
    sha256: str
    size_bytes: int
    source_sha256: str  # the float detector it was built from (the manifest's ``sha256``)
    recipe: dict[str, Any]
    calibration: dict[str, Any]
    checks: dict[str, Any]
    ap50_drop: dict[str, float]  # per class, CI sample + fresh-font signs pooled: float AP50 - int8 AP50
    ms_per_batch4_1thread: dict[str, float]
    passed: bool


class Manifest(BaseModel):
    schema_version: int = 1
    name: str
    version: str
    file: str  # relative to the manifest's folder
    sha256: str
    size_bytes: int
    created: AwareDatetime
    classes: list[str]
    input: InputSpec
    licence: str = "AGPL-3.0 (fine-tuned from Ultralytics YOLO11n COCO weights)"
    training: Training
    data_sources: list[DataSource]
    data_counts: dict[str, Any]
    metrics: dict[str, Evaluation]
    teacher_baseline: dict[str, Evaluation] = Field(default_factory=dict)
    acceptance: list[AcceptanceCheck] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)
    sign_verifier: SignVerifier | None = None
    # The edge's operating point (crops, NMS IoU, confidence, merged labels): what an evaluation measured
    # through the vision core carries too.
    operating_point: OperatingPoint = Field(default_factory=OperatingPoint)
    behaviour: BehaviourStage | None = None
    presence: PresenceStage | None = None
    int8: Int8Build | None = None


sha256_of = sha256_file  # the one implementation (vision/identity.py), under its old name here


def load(path: Path) -> Manifest:
    """Read a manifest (``path`` is the JSON file or the folder holding manifest.json)."""
    path = path / MANIFEST_NAME if path.is_dir() else path
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError as e:
        raise ManifestError(f"no model manifest at {path}") from e
    except ValueError as e:
        raise ManifestError(f"invalid model manifest {path}: {e}") from e


def _checked(manifest_path: Path, file: str, sha256: str) -> Path:
    model = (manifest_path.parent / file).resolve()
    if not model.is_file():
        raise ManifestError(f"model file {model} named by {manifest_path} does not exist")
    actual = sha256_of(model)
    if actual != sha256:
        raise ManifestError(f"model file {model} has sha256 {actual}, manifest {manifest_path} says {sha256}")
    return model


def shipped_files(manifest: Manifest) -> list[tuple[str, str]]:
    """(file, sha256) of everything the manifest ships: the detector first, then its builds and stages."""
    extras = (manifest.sign_verifier, manifest.behaviour, manifest.presence, manifest.int8)
    return [(manifest.file, manifest.sha256), *((e.file, e.sha256) for e in extras if e is not None)]


def verify(path: Path) -> Path:
    """Check every file the manifest ships exists and matches its sha256; return the detector's path."""
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    checked = [_checked(manifest_path, file, sha) for file, sha in shipped_files(load(manifest_path))]
    return checked[0]


def verify_sign_verifier(path: Path) -> Path | None:
    """The sign verifier's checked path, or None when the manifest ships none."""
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    entry = load(manifest_path).sign_verifier
    return None if entry is None else _checked(manifest_path, entry.file, entry.sha256)


def verify_behaviour(path: Path) -> Path | None:
    """The behaviour stage's checked path, or None when the manifest ships none."""
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    entry = load(manifest_path).behaviour
    return None if entry is None else _checked(manifest_path, entry.file, entry.sha256)


def sign_candidate_floor(path: Path) -> dict[str, float]:
    """The ``detector.class_confidence`` that passes the sign verifier every candidate it was calibrated on
    (``{"pause_sign": min_det}``); empty where no manifest or no verifier ships (the edge's defaults stand)."""
    try:
        entry = load(path).sign_verifier
    except ManifestError:
        return {}
    return {} if entry is None else {"pause_sign": entry.min_det}


def now_utc() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)
