"""Phone-use truth from labelled stills (rigs/scenarios/truth.py) and their stepped replay (build.py): a held
phone in a window's staff zone over consecutive stills is one truth; a customer's phone, an empty-handed
still or a long unlabelled gap is not part of it; a frame sequence renders each still until the next, and a
scenario whose data folder lacks it is skipped with the way to fetch it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.zones import Zone
from rigs.scenarios.build import SourceMissing, ensure_clip, write_clip
from rigs.scenarios.spec import DATA, FRAME_SOURCES, SCENARIO_DIR, FrameSequence, Scenario, load_scenario
from rigs.scenarios.truth import LabelledStill, held_stretches, phone_truth, read_labels

STAFF = [(0.6, 0.0), (1.0, 0.0), (1.0, 1.0), (0.6, 1.0)]  # the right 40 % of the tile
CLERK, CUSTOMER = (0.8, 0.4), (0.2, 0.5)  # phone centres: in the clerk's hand, in a customer's
SEQ = "fixture-seq"


def write_sequence(root: Path, frames: dict[int, list[tuple[float, float]]], fps: float = 10.0) -> FrameSequence:
    """Stills ``f<number>.jpg`` (a distinct grey each) with YOLO phone labels, as the bwssytems extract lays
    them out (images/val, labels/val)."""
    seq = FrameSequence("set/images/val", "vid_f", fps, "make it in the test")
    (root / "set/images/val").mkdir(parents=True)
    (root / "set/labels/val").mkdir(parents=True)
    for number, phones in frames.items():
        image = np.full((48, 64, 3), min(250, 20 + number * 10), np.uint8)
        cv2.imwrite(str(root / f"set/images/val/vid_f{number:06d}.jpg"), image)
        (root / f"set/labels/val/vid_f{number:06d}.txt").write_text(
            "".join(f"0 {x} {y} 0.05 0.05\n" for x, y in phones))
    return seq


def scenario(**clip: Any) -> Scenario:
    return Scenario.model_validate({
        "name": "fixture", "description": "d",
        "clip": {"fps": 10, "tile_size": [64, 48], "crf": 18, **clip},
        "windows": [{"id": "w01", "number": 1, "zones": {"staff": STAFF}}],
    })


def test_labels_are_read_as_phone_centres(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("0 0.5 0.25 0.1 0.1\n1 0.9 0.9 0.1 0.1\n\n0 0.1 0.2 0.05 0.05\n")
    assert read_labels(path) == ((0.5, 0.25), (0.1, 0.2))
    assert read_labels(tmp_path / "none.txt") == ()  # a still with no label file holds no phone


def test_a_held_phone_over_consecutive_stills_is_one_stretch() -> None:
    staff = Zone(STAFF, (1, 1))
    stills = [LabelledStill(0.0, (CLERK,)), LabelledStill(1.0, (CLERK, CUSTOMER)), LabelledStill(2.0, (CLERK,)),
              LabelledStill(3.0, (CUSTOMER,)),  # the clerk put it down; only the customer's phone is seen
              LabelledStill(4.0, (CLERK,)), LabelledStill(5.0, (CLERK,)),
              LabelledStill(9.0, (CLERK,))]  # 4 s with no labelled still: nobody vouches for the gap
    assert held_stretches(stills, staff, max_gap_s=2.5) == [(0.0, 2.0), (4.0, 5.0), (9.0, 9.0)]
    assert held_stretches(stills, staff, max_gap_s=5.0) == [(0.0, 2.0), (4.0, 9.0)]
    assert held_stretches([LabelledStill(0.0, (CUSTOMER,))], staff) == []  # a customer's phone is nobody's use


def test_truth_is_mapped_through_the_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Frames 1, 11, 21 at 10 fps: stills at 0, 1 and 2 s; the phone is held in the first two.
    monkeypatch.setitem(FRAME_SOURCES, SEQ, write_sequence(tmp_path, {1: [CLERK], 11: [CLERK], 21: [CUSTOMER]}))
    sc = scenario(tiles=[{"segments": [{"source": "standing-table", "start": 0.0, "end": 3.0},
                                       {"source": SEQ, "start": 0.5, "end": 2.5, "repeat": 2}]}])
    truth = [(t.rule.value, t.window, t.start, t.end) for t in phone_truth(sc, tmp_path)]
    # The segment starts at clip 3 s with source 0.5 s: only the still at 1 s falls inside it -> clip 3.5 s;
    # the repeat plays it again 2 s later.
    assert truth == [("phone_use", "w01", 3.5, 3.5), ("phone_use", "w01", 5.5, 5.5)]


def test_a_frame_sequence_plays_each_still_until_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FRAME_SOURCES, SEQ, write_sequence(tmp_path, {1: [], 6: [], 21: []}))  # 0, 0.5, 2 s
    out = tmp_path / "clip.mp4"
    assert write_clip(scenario(tiles=[{"segments": [{"source": SEQ, "start": 0.0, "end": 2.5}]}]).clip, out,
                      data=tmp_path) == 25
    cap = cv2.VideoCapture(str(out))
    greys = []
    while (ok_frame := cap.read())[0]:
        greys.append(round((float(ok_frame[1].mean()) - 20) / 10))
    cap.release()
    assert greys == [1] * 5 + [6] * 15 + [21] * 5  # frame k shows the latest still at or before k / 10 s


def test_a_scenario_without_its_data_names_the_fetch_step(tmp_path: Path) -> None:
    sc = load_scenario(SCENARIO_DIR / "phone-counter-browse.yaml")
    with pytest.raises(SourceMissing, match=r"CW_SCENARIO_DATA.*fetch github:bwssytems/phone-usage"):
        ensure_clip(sc, tmp_path / "clips", data=tmp_path / "no-data")


def test_the_phone_scenario_truth_is_the_labels_truth() -> None:
    """The truth written in the scenario file is what its labels say (where the data has been fetched)."""
    data = DATA
    sc = load_scenario(SCENARIO_DIR / "phone-counter-browse.yaml")
    if not FRAME_SOURCES["bwss-counter-145802"].stills(data):
        pytest.skip(f"bwssytems stills not under {data} (CW_SCENARIO_DATA); see rigs/scenarios/README.md")
    got = [(t.rule, t.window, t.start, t.end) for t in phone_truth(sc, data)]
    assert got == [(t.rule, t.window, t.start, t.end) for t in sc.truth]


def test_build_skips_a_scenario_without_its_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rigs.scenarios.build import main

    assert main(["phone-counter-browse", "--out", str(tmp_path / "clips"), "--data", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("phone-counter-browse: skipped, no stills of bwss-counter-145802") and "fetch" in out
    assert not (tmp_path / "clips").exists()
