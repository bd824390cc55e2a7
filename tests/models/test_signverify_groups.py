"""Per-group pause-sign recall (models/signverify_groups.py): which ground-truth sign belongs to which group,
which one the operating point finds, and the evaluator's report of it on real generated composites."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.evaluate import evaluate
from models.sample import SAMPLE_SPLIT, build_sample
from models.signverify_groups import (
    SECOND_LINE_GROUP,
    SMALL_GROUP,
    GroupAccumulator,
    found_gt,
    groups_of,
    sign_records,
)

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_groups_come_from_the_record_and_the_box_width() -> None:
    gt = np.array([[10, 10, 60, 40], [100, 100, 300, 200], [400, 50, 700, 200]], np.float32)
    records: list[list[float | str]] = [[100.2, 99.8, 300.1, 200.3, "two_line", "请到其他窗口办理"],
                                        [400, 50, 700, 200, "project", ""]]
    groups = groups_of(gt, 800, records)
    assert groups[0] == [SMALL_GROUP]  # 50 px of 800: small, and no record overlaps it
    assert groups[1] == ["two_line_placard", SECOND_LINE_GROUP]
    assert groups[2] == ["project_sign"]


def test_a_sign_is_found_only_above_the_threshold_and_only_once() -> None:
    gt = np.array([[0, 0, 100, 100], [200, 0, 300, 100]], np.float32)
    boxes = np.array([[2, 2, 100, 100], [0, 0, 98, 98], [200, 0, 300, 100]], np.float32)
    scores = np.array([0.9, 0.8, 0.4], np.float32)
    assert found_gt(boxes, scores, gt, conf=0.5).tolist() == [True, False]
    assert found_gt(boxes, scores, gt, conf=0.3).tolist() == [True, True]
    acc = GroupAccumulator({"img": [[200, 0, 300, 100, "placard", ""]]})
    acc.add("img", 2000, boxes, scores, gt, conf=0.5)
    result = acc.result()
    assert result[SMALL_GROUP].gt == 2 and result[SMALL_GROUP].found == 1
    assert result["one_line_placard"].gt == 1 and result["one_line_placard"].found == 0


def test_evaluate_reports_groups_of_two_line_composites(shared_dir: Path, tmp_path: Path) -> None:
    """Real composites (held-out font on office-CCTV frames, every sign a two-line placard) through the
    shipped detector: the sources.jsonl record reaches the report, and group recall is the found share."""
    build_sample(shared_dir, tmp_path, seed=3, phones=0, feet=0, signs_n=8, two_line_p=1.0)
    records = sign_records(tmp_path)
    assert records and all(r[4] == "two_line" for rows in records.values() for r in rows)
    report = evaluate(MODELS / "counterwatch-det-v1.onnx", tmp_path, SAMPLE_SPLIT, conf=0.3)
    groups = report.sign_groups
    signs = report.classes["pause_sign"]
    assert groups["two_line_placard"].gt == signs.gt
    assert all(g.recall == round(g.found / g.gt, 4) for g in groups.values())
    assert json.loads(report.model_dump_json())["sign_groups"]["two_line_placard"]["gt"] == signs.gt
