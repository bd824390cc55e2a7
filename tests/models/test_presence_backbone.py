"""The v2 presence experiment's graph cut (models/presence_backbone.py): the shipped detector's own backbone,
its weights untouched, pooled per candidate crop of a real frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

from models.presence_backbone import BACKBONE, DETECTOR, BackboneFeatures, feature_model, fit_head, head_probs


def test_the_cut_keeps_the_detectors_backbone_and_pools_each_crop(shared_dir: Path) -> None:
    model = feature_model(DETECTOR)
    det = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(DETECTOR)).graph.initializer}
    cut = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert cut and all(np.array_equal(v, det[k]) for k, v in cut.items())
    layers = {int(n.name.split("/")[1].split(".")[1]) for n in model.graph.node if n.name.startswith("/model.")}
    assert max(layers) == 10, "the backbone ends at C2PSA (model.10): nothing of the neck is left"
    cap = cv2.VideoCapture(str(shared_dir / "datasets/openoffice-topdown-istock/openoffice_arrive_sit.mp4"))
    ok, image = cap.read()
    cap.release()
    assert ok
    boxes = [(300.0, 100.0, 420.0, 300.0), (10.0, 10.0, 60.0, 90.0)]
    f = BackboneFeatures(model, threads=1)(image, boxes)
    assert f.shape == (2, sum(c * 6 for _, c, _ in BACKBONE)) and np.isfinite(f).all()
    assert not np.allclose(f[0], f[1]), "two different crops, two different feature vectors"


def test_the_head_separates_what_it_is_given() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    f = rng.normal(size=(80, 30)) + y[:, None] * 1.5
    score = np.full(80, 0.4)
    h = fit_head(f, score, y.astype(np.float64), y, pca=8, l2=0.01)
    p = head_probs(h, f, score)
    assert p[y == 1].min() > p[y == 0].max() - 0.5 and p[y == 1].mean() > 0.8 > 0.2 > p[y == 0].mean()
