"""The behaviour stage's pieces: crop recipe (models == edge), phone assignment, person-level metrics,
class-name mapping, the ONNX head against numpy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from edge.detect import Detection
from models.behaviour import BEHAVIOURS, CropSpec, ObjectBox, cues_for, cut
from models.behaviour_data import assign_phones
from models.behaviour_onnx import NECK_OUTPUTS, OneVsRest, feature_model, feature_width, to_gray, with_head
from models.behaviour_train import (
    GLOBAL_WIDTH,
    fit,
    fit_mlp,
    group_of,
    one_vs_rest,
    parse_variant,
    predict,
    predict_mlp,
    threshold_at_precision,
)
from models.data.labels import Box
from models.evaluate_person import behaviour_of, decide, load_items
from models.person_metrics import MISSED, PersonAccumulator
from vision.clerk import clerk_cues

ROOT = Path(__file__).resolve().parents[2]
DETECTOR = ROOT / "models/counterwatch-det-v1.onnx"


def _trained_recipe(image: np.ndarray, box: tuple[float, float, float, float], size: int, margin: float
                    ) -> np.ndarray:
    """The crop the shipped head was trained on (models v1, before the vision core): the grown box cut with
    gray 114 outside, resized as uint8, padded with copyMakeBorder, then RGB / 255."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    gx, gy = (x2 - x1) * margin, (y2 - y1) * margin
    x1, y1, x2, y2 = (round(v) for v in (x1 - gx, y1 - gy, x2 + gx, y2 + gy))
    x2, y2 = max(x2, x1 + 2), max(y2, y1 + 2)
    region = np.full((y2 - y1, x2 - x1, 3), 114, np.uint8)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        region[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image[sy1:sy2, sx1:sx2]
    rh, rw = region.shape[:2]
    scale = min(size / rh, size / rw)
    nw, nh = round(rw * scale), round(rh * scale)
    resized = cv2.resize(region, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (rw, rh) else region
    top, left = round((size - nh) / 2 - 0.1), round((size - nw) / 2 - 0.1)
    boxed = cv2.copyMakeBorder(resized, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT,
                               value=(114, 114, 114))
    return boxed[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0


@pytest.mark.parametrize("box", [(10, 20, 90, 200), (-30, -10, 60, 80), (250, 150, 330, 260), (5, 5, 6, 7)])
def test_crop_is_the_recipe_the_head_was_trained_on(box: tuple[float, float, float, float]) -> None:
    """models/ and the edge both cut through vision.clerk; this pins that one recipe to the training one."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    ours = cut(image, box, CropSpec(160, 0.1))
    assert ours.shape == (3, 160, 160)
    assert np.allclose(ours, _trained_recipe(image, box, 160, 0.1), atol=1e-6)


def test_cues_from_edge_detections_and_model_boxes_agree() -> None:
    box = (10.0, 20.0, 90.0, 200.0)
    objects = [("phone", (40, 40, 50, 60), 0.7), ("drink", (50, 150, 70, 180), 0.4), ("phone", (300, 5, 310, 9), 0.9)]
    ours = cues_for(box, [ObjectBox(n, b, s) for n, b, s in objects])
    edge = clerk_cues(box, [Detection(n, s, b) for n, b, s in objects], 0.1)
    assert np.allclose(ours, edge)
    assert np.allclose(ours, [0.7, (50 - 2) / 216, 0.4])  # phone centre y=50 in the grown box 2..218


def test_phone_goes_to_the_smallest_person_holding_it() -> None:
    big, small, other = (0, 0, 200, 200), (50, 50, 120, 150), (300, 0, 400, 200)
    flags = assign_phones([big, small, other], [Box(0, 80, 90, 95, 110)])
    assert flags == [0, 1, 0]
    assert assign_phones([other], [Box(0, 80, 90, 95, 110)]) == [0]


def test_person_metrics_confusion_missed_and_extra() -> None:
    acc = PersonAccumulator(BEHAVIOURS)
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], np.float32)
    pred = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [60, 0, 70, 10]], np.float32)
    acc.add(gt, ["phone_use", "none", "phone_use"], pred, ["phone_use", "phone_use", "phone_use"])
    r = acc.result("d", "val")
    assert r.persons == 3 and r.presence_recall == pytest.approx(2 / 3, abs=1e-4) and r.extra_persons == 1
    assert r.confusion == {"none": {"phone_use": 2}, "phone_use": {MISSED: 1, "phone_use": 1}}
    m = r.classes["phone_use"]
    assert (m.support, m.predicted, m.tp) == (2, 3, 1)
    assert m.precision == pytest.approx(1 / 3, abs=1e-4) and m.recall == pytest.approx(0.5)
    assert r.classes["eating"].precision is None and r.classes["eating"].recall is None


def test_class_names_map_onto_behaviours() -> None:
    assert behaviour_of("Using_phone", {}) == "phone_use"
    assert behaviour_of("sleep", {}) == "dozing"
    assert behaviour_of("bow_head", {"bow_head": "none"}) == "none"
    with pytest.raises(ValueError, match="class-map"):
        behaviour_of("hand-raising", {})
    assert decide(np.array([0.3, 0.7]), ["none", "phone_use"], {"phone_use": 0.8}) == "none"
    assert decide(np.array([0.3, 0.7]), ["none", "phone_use"], {"phone_use": 0.6}) == "phone_use"


def test_person_level_sets_load_from_yolo_and_coco(tmp_path: Path) -> None:
    import cv2

    for sub in ("images/val", "labels/val"):
        (tmp_path / sub).mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "images/val/a.png"), np.zeros((100, 200, 3), np.uint8))
    (tmp_path / "labels/val/a.txt").write_text("1 0.25 0.5 0.1 0.2\n0 0.75 0.5 0.1 0.2\n")
    (tmp_path / "data.yaml").write_text("names: ['none', 'using_phone']\n")
    (item,) = load_items(tmp_path, "val", {})
    assert item.labels == ["phone_use", "none"]
    assert np.allclose(item.boxes[0], [40, 40, 60, 60])
    coco = {"images": [{"id": 1, "file_name": "images/val/a.png"}], "categories": [{"id": 5, "name": "eat"}],
            "annotations": [{"image_id": 1, "category_id": 5, "bbox": [10, 20, 30, 40]}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    (citem,) = load_items(tmp_path / "c.json", "val", {})
    assert citem.labels == ["eating"] and np.allclose(citem.boxes, [[10, 20, 40, 60]])


def test_training_helpers() -> None:
    assert group_of("20250718_145802_46039155_f000014_aug.jpg") == "20250718_145802_46039155"
    assert group_of("openoffice_arrive_sit_t0029.0.jpg") == "openoffice_arrive_sit"
    assert group_of("0P1-11-_jpg.rf.491e80a2.jpg") == "0P1-11-"
    thr, p, r = threshold_at_precision(np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 1, 0, 1]), 0.75)
    assert (thr, p, r) == (0.6, 0.75, 1.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    w, b = fit(x, y, 2, 1e-3)
    assert (predict(x, w, b).argmax(axis=1) == y).mean() > 0.95


def test_onnx_head_equals_numpy_on_the_detector_features() -> None:
    """The one shipped file: detector neck pooled -> [features, cues] standardised -> linear -> softmax."""
    rng = np.random.default_rng(3)
    f = 2 * (64 + 128 + 256)
    mean, std = rng.normal(size=f + 3), rng.uniform(0.5, 2, size=f + 3)
    w, b = rng.normal(size=(f + 3, 2)) * 0.05, rng.normal(size=2)
    model = with_head(DETECTOR, mean, std, w, b, ["none", "phone_use"])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    images = rng.random((2, 3, 96, 96), dtype=np.float32)
    cues = rng.random((2, 3), dtype=np.float32)
    probs, feats = sess.run(["probs", "features"], {"images": images, "cues": cues})
    assert feats.shape == (2, f)
    want = predict((np.concatenate([feats, cues], axis=1) - mean) / std, w, b)
    assert np.allclose(probs, want, atol=1e-4)


def test_a_one_vs_rest_column_is_its_own_two_class_head_on_the_same_inputs() -> None:
    """v3: [none, phone_use] from the main softmax, then P(dozing) from dozing's own [rest, dozing] head."""
    rng = np.random.default_rng(4)
    f = 2 * (64 + 128 + 256)
    mean, std = rng.normal(size=f + 3), rng.uniform(0.5, 2, size=f + 3)
    w, b = rng.normal(size=(f + 3, 2)) * 0.05, rng.normal(size=2)
    extra = OneVsRest("dozing", rng.normal(size=f + 3), rng.uniform(0.5, 2, size=f + 3),
                      rng.normal(size=(f + 3, 2)) * 0.05, rng.normal(size=2))
    model = with_head(DETECTOR, mean, std, w, b, ["none", "phone_use", "dozing"], one_vs_rest=[extra])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    images = rng.random((3, 3, 96, 96), dtype=np.float32)
    cues = rng.random((3, 3), dtype=np.float32)
    probs, feats = sess.run(["probs", "features"], {"images": images, "cues": cues})
    x = np.concatenate([feats, cues], axis=1)
    main = predict((x - mean) / std, w, b)
    dozing = predict((x - extra.mean) / extra.std, extra.weight, extra.bias)[:, 1]
    assert probs.shape == (3, 3)
    assert np.allclose(probs[:, :2], main, atol=1e-4) and np.allclose(probs[:, 2], dozing, atol=1e-4)


def test_one_vs_rest_head_trains_on_its_own_sets(tmp_path: Path) -> None:
    """The dozing head learns from the sets it is given (grouped CV threshold, then refit on all)."""
    rng = np.random.default_rng(5)
    for name, n, dozers in (("photos", 240, 60), ("footage", 160, 0)):
        y = np.zeros(n, np.int64)
        y[:dozers] = BEHAVIOURS.index("dozing")
        x = rng.normal(size=(n, GLOBAL_WIDTH)).astype(np.float32)
        x[:dozers, :40] += 3.0  # cleanly separable on some columns
        np.savez(tmp_path / f"{name}-train-s160m10g0x0.npz", X=x, C=rng.random((n, 3)).astype(np.float32), y=y,
                 image=np.asarray([f"{name}{i}.jpg" for i in range(n)]))
    args = argparse.Namespace(cache=tmp_path, variant="s160m10g0x0", ovr_sets=["photos", "footage"], cue_scale=10.0)
    summary, arrays = one_vs_rest(args, "dozing", 0.1, "global", 0)
    assert summary["train_persons"] == 60 and summary["rest_persons"] == 340
    assert summary["cv_recall"] > 0.9 and summary["cv_precision"] >= 0.8
    assert summary["cv_false_positives_per_set"]["footage"] == 0
    assert arrays["ovr_dozing_w"].shape == (GLOBAL_WIDTH + 3, 2)


def test_grid_cells_are_means_of_the_neck_maps() -> None:
    """The spatial features: each neck map averaged over a rows x cols grid, after the global 896."""
    import onnx

    size, grid = 96, (3, 2)
    graph = feature_model(DETECTOR, size, grid)
    graph.graph.output.extend([onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                               for n in NECK_OUTPUTS])
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(5).random((2, 3, size, size), dtype=np.float32)
    feats, p3, p4, p5 = sess.run(["features", *NECK_OUTPUTS], {"images": images})
    assert feats.shape == (2, feature_width(grid)) == (2, 8 * 448)
    assert np.allclose(feats[:, :64], p3.mean(axis=(2, 3)), atol=1e-5)  # global average of P3 comes first
    cells = feats[:, 896:]
    # P3 is 12 x 12 at 96 px: row cells [0, 4), [4, 8), [8, 12); column cells [0, 6), [6, 12).
    assert np.allclose(cells[:, :64], p3[:, :, 0:4, 0:6].mean(axis=(2, 3)), atol=1e-5)
    assert np.allclose(cells[:, 64 * 5:64 * 6], p3[:, :, 8:12, 6:12].mean(axis=(2, 3)), atol=1e-5)
    # P5 is 3 x 3: 3 rows of one position, the 2 columns [0, 2) and [1, 3) share the middle one.
    p5_start = 6 * 64 + 6 * 128
    assert np.allclose(cells[:, p5_start + 256:p5_start + 512], p5[:, :, 0:1, 1:3].mean(axis=(2, 3)), atol=1e-5)
    assert p4.shape[2:] == (6, 6)
    with pytest.raises(ValueError, match="divisible"):
        feature_model(DETECTOR, 100, grid)


def test_onnx_mlp_head_equals_numpy() -> None:
    rng = np.random.default_rng(4)
    f = feature_width((2, 2))
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] + x[:, 1] ** 2 > 1).astype(np.int64)
    w1, b1, w2, b2 = fit_mlp(x, y, 2, 1e-3, 16)
    assert (predict_mlp(x, w1, b1, w2, b2).argmax(axis=1) == y).mean() > 0.9
    mean, std = rng.normal(size=f + 3), rng.uniform(0.5, 2, size=f + 3)
    w1, b1 = rng.normal(size=(f + 3, 8)) * 0.05, rng.normal(size=8)
    w2, b2 = rng.normal(size=(8, 3)), rng.normal(size=3)
    model = with_head(DETECTOR, mean, std, w2, b2, ["none", "phone_use", "dozing"], size=64, grid=(2, 2),
                      hidden=(w1, b1))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    images = rng.random((2, 3, 64, 64), dtype=np.float32)
    cues = rng.random((2, 3), dtype=np.float32)
    probs, feats = sess.run(["probs", "features"], {"images": images, "cues": cues})
    want = predict_mlp((np.concatenate([feats, cues], axis=1) - mean) / std, w1, b1, w2, b2)
    assert feats.shape == (2, f) and np.allclose(probs, want, atol=1e-4)
    assert parse_variant("s160m10g3x2") == (160, 0.1, (3, 2), False)
    assert parse_variant("s224m25g0x0d") == (224, 0.25, (0, 0), True)


def test_gray_graph_is_the_network_on_luma_crops() -> None:
    rng = np.random.default_rng(6)
    images = rng.random((2, 3, 64, 64), dtype=np.float32)
    gray = ort.InferenceSession(feature_model(DETECTOR, 64, gray=True).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    plain = ort.InferenceSession(feature_model(DETECTOR, 64).SerializeToString(), providers=["CPUExecutionProvider"])
    luma = to_gray(images)
    assert np.allclose(luma[:, 0], 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2], atol=1e-6)
    assert np.allclose(gray.run(["features"], {"images": images})[0], plain.run(["features"], {"images": luma})[0],
                       atol=1e-4)
