"""Pose cues (models/pose_cues.py) and the ROC AUC they are judged by (models/metrics.py), without MediaPipe:
landmarks are made by hand, as the landmarker's normalised [x, y, visibility] rows."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from models.metrics import roc_auc
from models.pose_cues import CUES, NO_POSE, cues_of, evaluate_rows

W, H = 200, 400


def person(*, hand: tuple[float, float] = (0.3, 0.7), nose: tuple[float, float] = (0.5, 0.2),
           face_visible: float = 0.9) -> list[list[float]]:
    """A front-facing person in a 200x400 crop: shoulders at y 0.3, 0.4 of the width apart."""
    lm = [[0.5, 0.5, 0.9] for _ in range(33)]
    lm[0] = [*nose, face_visible]
    lm[2], lm[5] = [0.45, 0.18, face_visible], [0.55, 0.18, face_visible]
    lm[7], lm[8] = [0.4, 0.2, face_visible], [0.6, 0.2, face_visible]
    lm[11], lm[12] = [0.3, 0.3, 0.9], [0.7, 0.3, 0.9]
    lm[15] = lm[19] = [*hand, 0.9]
    lm[16] = lm[20] = [0.7, 0.7, 0.9]
    return lm


def cue(landmarks: list[list[float]] | None, name: str) -> float:
    return cues_of(landmarks, W, H)[CUES.index(name)]


def test_a_hand_at_the_ear_reads_close_in_shoulder_widths() -> None:
    at_ear, on_desk = person(hand=(0.4, 0.21)), person()
    assert cue(at_ear, "hand_to_ear") == pytest.approx(0.01 * H / (0.4 * W), abs=1e-6)  # 4 px of 80
    assert cue(on_desk, "hand_to_ear") > 10 * cue(at_ear, "hand_to_ear")


def test_the_cues_do_not_change_with_the_crop_scale() -> None:
    lm = person(hand=(0.45, 0.25))
    assert cues_of(lm, W, H) == pytest.approx(cues_of(lm, 3 * W, 3 * H))


def test_a_head_on_the_desk_puts_the_nose_below_the_shoulders() -> None:
    assert cue(person(), "nose_below_shoulders") < 0 < cue(person(nose=(0.5, 0.45)), "nose_below_shoulders")


def test_no_person_found_reads_as_hands_far_and_head_up() -> None:
    assert cues_of(None, W, H) == NO_POSE


@pytest.mark.parametrize(("scores", "positive", "expected"), [
    ([1, 2, 3, 4], [0, 0, 1, 1], 1.0),
    ([4, 3, 2, 1], [0, 0, 1, 1], 0.0),
    ([1, 1, 1, 1], [0, 1, 0, 1], 0.5),  # ties count half
    ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),
])
def test_roc_auc(scores: list[float], positive: list[int], expected: float) -> None:
    assert roc_auc(scores, positive) == pytest.approx(expected)


def test_roc_auc_without_one_side_is_nan() -> None:
    assert math.isnan(roc_auc([0.2, 0.4], [1, 1]))


def test_evaluation_finds_the_cue_that_separates_and_not_the_others() -> None:
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    for split, n in (("train", 60), ("val", 40)):
        for i in range(n):
            calling = i % 4 == 0
            hand = (0.4, 0.21) if calling else (float(rng.uniform(0.2, 0.8)), 0.7)
            rows.append({"split": split, "label": "phone_use" if calling else "none", "name": f"{split}{i}",
                         "width": W, "height": H, "landmarks": person(hand=hand)})
    rows.append({"split": "val", "label": "none", "name": "nobody", "width": W, "height": H, "landmarks": None})
    report = evaluate_rows(rows)
    assert report["persons"] == {"train": 60, "val": 41} and report["pose_found"]["val"] == round(40 / 41, 3)
    phone = report["phone_use"]
    assert phone["val_positives"] == 10 and phone["pose_found_val_positives"] == 1.0
    assert phone["val_auc"]["hand_to_ear"] == 1.0 and phone["val_auc"]["logistic_all_cues"] == 1.0
    assert phone["val_auc"]["face_visibility"] < 0.6  # the same for everyone here: it tells nothing
