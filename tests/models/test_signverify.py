"""The second-stage sign verifier: crop parity with the edge, the generator's placard record, the shipped
ONNX verifier on real rendered crops (unseen font, CCTV frames) and its manifest check."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.data import signs
from models.data.build import Background, SignRecord, sign_composite
from models.manifest import ManifestError, load, shipped_files, verify, verify_sign_verifier
from models.signverify import CropSpec, SignVerifier, Suppression, combine, crop, suppress

MODELS = Path(os.environ.get("CW_MODEL_DIR", Path(__file__).resolve().parents[2] / "models"))


def test_crop_takes_the_margin_and_pads_off_frame_gray() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    spec = CropSpec(64, 0.15)
    for box in [(10.2, 20.7, 90.1, 60.3), (-15, -8, 40, 30), (300, 200, 340, 260), (100, 100, 101, 101),
                (0, 0, 320, 240)]:
        assert crop(image, box, spec).shape == (64, 64, 3)
    # A 40x40 box with 15% margin is the 52x52 region around it (6 px each side), enlarged to 64x64.
    region = image[94:146, 94:146]
    expected = cv2.resize(region, (64, 64), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(crop(image, (100, 100, 140, 140), spec), expected)
    assert (crop(image, (400, 300, 450, 350), spec) == 114).all()  # entirely off-frame: gray, not an error
    left = crop(image, (-20, 100, 20, 140), CropSpec(52, 0.15))  # half off the left edge: 26 gray columns
    assert (left[:, :26] == 114).all() and not (left[:, 27:] == 114).all()


def test_suppression_drops_partial_and_duplicate_boxes_of_a_better_candidate() -> None:
    boxes = np.array([[100, 100, 200, 160],   # the sign
                      [105, 102, 150, 158],   # its left half (inside it): a partial box
                      [98, 99, 203, 161],     # a near-duplicate
                      [300, 100, 400, 160],   # another sign
                      [190, 100, 310, 160]],  # straddles both, small overlap with each
                     np.float32)
    scores = np.array([0.9, 0.95, 0.5, 0.8, 0.7], np.float32)
    kept = suppress(boxes, scores, Suppression(0.5, 0.8))
    assert kept.tolist() == [1, 3, 4]  # the half scored higher: it stays, the sign it lies in goes
    scores[0] = 0.99
    assert suppress(boxes, scores, Suppression(0.5, 0.8)).tolist() == [0, 3, 4]
    assert suppress(boxes, scores, Suppression(0.04, 0.8)).tolist() == [0, 3]  # IoU 0.048 with each


def test_the_edge_and_the_evaluator_run_one_verifier() -> None:
    """One implementation: the edge's verifier is the core's, and models.signverify re-exports the core."""
    import edge.sign
    import vision.verifier

    assert issubclass(edge.sign.SignVerifier, vision.verifier.SignVerifier)
    assert (crop, suppress, combine, SignVerifier) == (vision.verifier.crop, vision.verifier.suppress,
                                                       vision.verifier.combine, vision.verifier.SignVerifier)


def test_combine_lets_the_verifier_veto() -> None:
    det = np.array([0.9, 0.9, 0.1], np.float32)
    p = np.array([0.95, 0.01, 0.95], np.float32)
    out = combine(det, p, 0.5)
    assert out[0] > out[2] > out[1]
    np.testing.assert_allclose(combine(det, p, 0.0), det, rtol=1e-5)
    np.testing.assert_allclose(combine(det, p, 1.0), p, rtol=1e-5)


def _frame(shared_dir: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(shared_dir / "datasets/office-cctv-clip/office_cctv_cam5.mov"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    h, w = frame.shape[:2]
    return np.asarray(cv2.resize(frame, (800, round(h * 800 / w)), interpolation=cv2.INTER_AREA))


def test_generator_records_placards_without_changing_the_image(shared_dir: Path) -> None:
    bg = Background(None, "holdout", "cctv0000", [], image=_frame(shared_dir))
    faces = signs.available_faces(signs.HELDOUT_FONT_FAMILIES)
    record = SignRecord()
    with_record = sign_composite(bg, np.random.default_rng(5), faces, True, 0.0, record)
    without = sign_composite(bg, np.random.default_rng(5), faces, True, 0.0)
    np.testing.assert_array_equal(with_record[0], without[0])
    assert with_record[1] == without[1]
    assert record.placards and all(b.cls == -1 and b.x2 > b.x1 and b.y2 > b.y1 for b in record.placards)
    assert not [b for b in with_record[1] if b.cls == 4] and not record.signs  # a negative labels no sign


@pytest.fixture(scope="module")
def shipped_verifier() -> SignVerifier:
    entry = load(MODELS).sign_verifier
    path = verify_sign_verifier(MODELS)
    assert entry is not None and path is not None, "models/manifest.json ships no sign verifier"
    return SignVerifier(path, CropSpec(entry.input.size, entry.input.margin))


def test_shipped_verifier_tells_signs_from_lookalike_placards(shared_dir: Path,
                                                                shipped_verifier: SignVerifier) -> None:
    """Real ONNX inference on crops of signs and hard-negative placards in the held-out font on CCTV
    frames: most signs score high, most placards low."""
    bg = Background(None, "holdout", "cctv0000", [], image=_frame(shared_dir))
    faces = signs.available_faces(signs.HELDOUT_FONT_FAMILIES)
    rng = np.random.default_rng(11)
    p_sign: list[float] = []
    p_placard: list[float] = []
    for i in range(24):
        record = SignRecord()
        image, boxes = sign_composite(bg, rng, faces, negative=i % 2 == 1, tint_p=0.0, record=record)
        gt = np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes if b.cls == 4], np.float32).reshape(-1, 4)
        neg = np.array([[b.x1, b.y1, b.x2, b.y2] for b in record.placards], np.float32).reshape(-1, 4)
        p_sign += shipped_verifier.probs(image, gt).tolist()
        p_placard += shipped_verifier.probs(image, neg).tolist()
    assert len(p_sign) >= 10 and len(p_placard) >= 10
    assert all(0.0 <= p <= 1.0 for p in p_sign + p_placard)
    assert float(np.median(p_sign)) > 0.7, p_sign
    assert float(np.median(p_placard)) < 0.3, p_placard
    assert float(np.mean(np.array(p_sign) > 0.5)) >= 0.8


def test_verifier_batches_and_single_crops_agree(shipped_verifier: SignVerifier) -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 80, 50], [100, 40, 180, 160], [200, 120, 290, 190]], np.float32)
    batch = shipped_verifier.probs(image, boxes)
    single = np.concatenate([shipped_verifier.probs(image, boxes[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    assert shipped_verifier.probs(image, np.zeros((0, 4), np.float32)).shape == (0,)


def test_tampered_verifier_is_refused_by_the_manifest_check(tmp_path: Path) -> None:
    manifest = load(MODELS)
    assert manifest.sign_verifier is not None
    # verify() checks every shipped file
    for name in ("manifest.json", *(file for file, _ in shipped_files(manifest))):
        shutil.copyfile(MODELS / name, tmp_path / name)
    assert verify(tmp_path) == (tmp_path / manifest.file).resolve()
    with (tmp_path / manifest.sign_verifier.file).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match="sha256"):
        verify(tmp_path)
    (tmp_path / manifest.sign_verifier.file).unlink()
    with pytest.raises(ManifestError, match="does not exist"):
        verify_sign_verifier(tmp_path)


def test_shipped_verifier_is_small_and_its_acceptance_is_recorded() -> None:
    manifest = load(MODELS)
    entry = manifest.sign_verifier
    assert entry is not None
    assert entry.size_bytes < 3_000_000  # two 0.28 M-parameter CNNs averaged in one graph
    assert entry.detector_sha256 == manifest.sha256
    assert 0.0 < entry.threshold < 1.0 and 0.0 <= entry.weight <= 1.0
    assert entry.data_counts["crops"]["train"]["positives"] > 0
    assert entry.data_counts["crops"]["train"]["placard"] > 0
    check = next(c for c in manifest.acceptance if c.name.startswith("pause_sign recall"))
    assert "verifier" in check.name
    assert check.value == entry.metrics["holdout"].classes["pause_sign"].recall_at_p95
