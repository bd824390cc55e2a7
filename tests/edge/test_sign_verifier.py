"""The edge's detector cue with the shipped second-stage sign verifier (real ONNX inference on crops of a
rendered sign and a look-alike placard pasted into a CCTV frame)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detect import Detection, ModelError
from edge.settings import SignSettings
from edge.sign import MANIFEST, SignDetectorCue, shipped_verifier
from edge.verdicts import VerdictMemory
from models.data import signs
from models.data.composite import paste

Box4 = tuple[float, float, float, float]


@pytest.fixture(scope="module")
def scene(office_clip: Path) -> tuple[np.ndarray, Box4, Box4]:
    """A CCTV frame with a pause sign and a 欢迎光临 placard in the held-out font; (image, sign, placard)."""
    cap = cv2.VideoCapture(str(office_clip))
    ok, frame = cap.read()
    cap.release()
    assert ok
    h, w = frame.shape[:2]
    image = np.asarray(cv2.resize(frame, (800, round(h * 800 / w)), interpolation=cv2.INTER_AREA))
    face = signs.available_faces(signs.HELDOUT_FONT_FAMILIES)[0]
    rng = np.random.default_rng(3)
    sign = signs.render_placard("暂停服务", face, rng, "Service paused")
    placard = signs.render_placard("欢迎光临", face, rng)
    boxes = []
    for card, cx in ((sign, (0.2, 0.3)), (placard, (0.6, 0.7))):
        for _ in range(50):  # paste() draws into its image: try on a copy, keep the one that lands right
            trial = image.copy()
            pasted = paste(trial, card, rng, width_frac=(0.18, 0.2), cy_frac=(0.5, 0.55), max_rotate=3)
            if pasted is not None and cx[0] * 800 <= (pasted.box[0] + pasted.box[2]) / 2 <= cx[1] * 800:
                image = trial
                boxes.append(pasted.box)
                break
    assert len(boxes) == 2
    return image, boxes[0], boxes[1]


def _cue() -> SignDetectorCue:
    cue = SignDetectorCue.from_settings(SignSettings())
    assert cue.verifier is not None, "models/manifest.json ships no sign verifier"
    return cue


def test_verifier_keeps_the_sign_and_vetoes_the_lookalike(scene: tuple[np.ndarray, Box4,
                                                                        Box4]) -> None:
    image, sign_box, placard_box = scene
    cue = _cue()
    assert cue.verifier is not None
    sha = cue.verifier.spec.detector_sha256
    person = Detection("person", 0.8, (10.0, 10.0, 60.0, 120.0))
    weak = Detection("pause_sign", cue.verifier.spec.min_det / 2, (300.0, 300.0, 340.0, 330.0))
    dets = [person, Detection("pause_sign", 0.6, sign_box), Detection("pause_sign", 0.6, placard_box), weak]
    out = cue.rescore(image, dets, sha)
    assert out[0] == person  # other classes untouched
    assert weak not in out and len(out) == 3  # under min_det: dropped, never verified
    bar = cue.min_score(sha)
    assert bar == cue.verifier_min_score
    sign, placard = out[1], out[2]
    assert sign.box == sign_box and placard.box == placard_box
    assert sign.score >= bar > placard.score, (sign.score, placard.score, bar)


def test_a_placard_standing_still_is_judged_once(scene: tuple[np.ndarray, Box4, Box4]) -> None:
    """With the camera's verdict memory, the same candidates on the same picture reuse their verdicts (the
    verifier does not run again) and score exactly as a fresh verdict does; a candidate whose picture
    changed (the sign taken away: a blank counter in its box) is judged afresh."""
    image, sign_box, placard_box = scene
    cue = _cue()
    assert cue.verifier is not None
    sha = cue.verifier.spec.detector_sha256
    dets = [Detection("pause_sign", 0.6, sign_box), Detection("pause_sign", 0.6, placard_box)]
    memory = VerdictMemory()
    first = cue.rescore(image, dets, sha, memory=memory, window="w01")
    assert first == cue.rescore(image, dets, sha)  # the memory changes no score
    assert (memory.runs, memory.reused) == (2, 0)
    jittered = [replace(d, box=(d.box[0] + 1, d.box[1], d.box[2] + 1, d.box[3])) for d in dets]
    assert [d.score for d in cue.rescore(image, jittered, sha, memory=memory, window="w01")] == \
        [d.score for d in first]
    assert (memory.runs, memory.reused) == (2, 2)
    assert cue.rescore(image, dets, sha, memory=memory, window="w02") == first  # windows keep their own
    assert memory.runs == 4
    cleared = image.copy()
    x1, y1, x2, y2 = (int(v) for v in sign_box)
    cleared[y1:y2, x1:x2] = np.median(image[y2:y2 + 10, x1:x2].reshape(-1, 3), axis=0).astype(np.uint8)
    again = cue.rescore(cleared, dets, sha, memory=memory, window="w01")
    assert memory.runs == 5 and memory.reused == 3  # the sign's box is new, the placard's is not
    assert again[0].score < first[0].score and again[1].score == first[1].score


def test_a_partial_box_inside_the_verified_sign_is_suppressed(scene: tuple[np.ndarray, Box4, Box4]) -> None:
    """With the manifest's overlap suppression, a second candidate lying inside the better-scored sign (the
    detector's NMS keeps such partial boxes) is dropped rather than counted as a second sign."""
    image, sign_box, _ = scene
    cue = _cue()
    assert cue.verifier is not None
    x1, y1, x2, y2 = sign_box
    half = (x1, y1, x1 + (x2 - x1) * 0.55, y2)
    dets = [Detection("pause_sign", 0.6, sign_box), Detection("pause_sign", 0.3, half)]
    spec = cue.verifier.spec
    cue.verifier.spec = spec.model_copy(update={"suppress_iou": None, "suppress_containment": None})
    assert len(cue.rescore(image, dets, spec.detector_sha256)) == 2  # without suppression: both
    cue.verifier.spec = spec.model_copy(update={"suppress_iou": 0.5, "suppress_containment": 0.8})
    out = cue.rescore(image, dets, spec.detector_sha256)
    assert len(out) == 1 and out[0].box in (sign_box, half)  # one sign, the better-scored box


def test_another_detector_runs_without_the_verifier(scene: tuple[np.ndarray, Box4,
                                                                   Box4]) -> None:
    image, _, placard_box = scene
    cue = _cue()
    dets = [Detection("pause_sign", 0.6, placard_box)]
    assert cue.rescore(image, dets, "0" * 64) == dets
    assert cue.min_score("0" * 64) == SignSettings().detector_min_score


def test_settings_switch_the_verifier_off_or_override_its_bar() -> None:
    assert SignDetectorCue.from_settings(SignSettings(verifier=False)).verifier is None
    assert SignDetectorCue.from_settings(SignSettings(detector=False)).verifier is None
    cue = SignDetectorCue.from_settings(SignSettings(verifier_min_score=0.42))
    assert cue.verifier is not None and cue.min_score(cue.verifier.spec.detector_sha256) == 0.42


def test_tampered_or_missing_verifier_is_refused(tmp_path: Path) -> None:
    shipped = shipped_verifier(MANIFEST)
    assert shipped is not None
    path, spec = shipped
    shutil.copyfile(MANIFEST, tmp_path / "manifest.json")
    with pytest.raises(ModelError, match="does not exist"):  # named by the manifest but not deployed
        SignDetectorCue.from_settings(SignSettings(), tmp_path / "manifest.json")
    shutil.copyfile(path, tmp_path / spec.file)
    with (tmp_path / spec.file).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="sha256"):
        SignDetectorCue.from_settings(SignSettings(), tmp_path / "manifest.json")
    data = json.loads(MANIFEST.read_text())
    del data["sign_verifier"]["threshold"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="sign_verifier"):
        SignDetectorCue.from_settings(SignSettings(), tmp_path / "manifest.json")
    del data["sign_verifier"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    assert SignDetectorCue.from_settings(SignSettings(), tmp_path / "manifest.json").verifier is None
