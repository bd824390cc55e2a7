"""A second stage's verdict reused while its candidate is unchanged (edge/verdicts.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from edge.verdicts import VerdictMemory

BOX = (40.0, 30.0, 120.0, 150.0)


@pytest.fixture()
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)


class Stage:
    """Counts what it is asked to judge; P = the box's left edge / 1000, so a reused verdict is visible."""

    def __init__(self) -> None:
        self.asked: list[list[int]] = []

    def __call__(self, boxes: list[tuple[float, float, float, float]]) -> Callable[[list[int]], list[float]]:
        def compute(todo: list[int]) -> list[float]:
            self.asked.append(todo)
            return [boxes[i][0] / 1000 for i in todo]
        return compute


def test_an_unchanged_candidate_reuses_its_verdict(image: np.ndarray) -> None:
    memory, stage = VerdictMemory(), Stage()
    assert memory.judge("w", image, [BOX], stage([BOX])) == [0.04]
    nudged = (41.0, 30.0, 121.0, 150.0)  # IoU 0.98 with the judged box, same picture
    assert memory.judge("w", image, [nudged], stage([nudged])) == [0.04]  # the judged verdict, not 0.041
    assert stage.asked == [[0]] and (memory.runs, memory.reused) == (1, 1)


@pytest.mark.parametrize("case", ["moved", "new picture", "other box", "other window"])
def test_a_changed_candidate_is_judged_again(image: np.ndarray, case: str) -> None:
    memory, stage = VerdictMemory(), Stage()
    memory.judge("w", image, [BOX], stage([BOX]))
    box, picture, key, moved = BOX, image, "w", None
    if case == "moved":
        moved = True
    elif case == "new picture":
        picture = image.copy()
        picture[30:150, 40:120] = 255 - picture[30:150, 40:120]
    elif case == "other box":
        box = (60.0, 30.0, 140.0, 150.0)  # IoU 0.6
    else:
        key = "w2"
    assert memory.judge(key, picture, [box], stage([box]), moved=moved) == [box[0] / 1000]
    assert stage.asked == [[0], [0]] and memory.reused == 0


def test_only_the_new_candidates_are_computed_in_one_call(image: np.ndarray) -> None:
    memory, stage = VerdictMemory(), Stage()
    other = (200.0, 20.0, 300.0, 200.0)
    memory.judge("w", image, [BOX], stage([BOX]))
    assert memory.judge("w", image, [other, BOX], stage([other, BOX])) == [0.2, 0.04]
    assert stage.asked == [[0], [0]]  # one call, for the new box only
    assert memory.judge("w", image, [], stage([])) == [] and memory.verdicts["w"] == []
    assert stage.asked == [[0], [0]]  # nothing to judge: no call
