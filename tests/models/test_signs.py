"""The pause-sign generator: the project sign matches what the edge prints (layout and ArUco id), placards
render in every font family, held-out fonts never reach training, and composites carry correct boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.data import composite, signs


def detect_markers(image: np.ndarray) -> list[int]:
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(signs.ARUCO_DICT),
                                       cv2.aruco.DetectorParameters())
    _, ids, _ = detector.detectMarkers(cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2GRAY))
    return [] if ids is None else sorted(int(i) for i in ids.flatten())


@pytest.mark.parametrize("window", [3, 12, 57])
def test_project_sign_carries_the_window_marker(window: int) -> None:
    face = signs.available_faces(signs.TRAIN_FONT_FAMILIES)[0]
    sign = signs.render_project_sign(window, face, width=400)
    assert sign.shape[2] == 4 and sign[:, :, 3].min() == 255
    assert detect_markers(sign) == [window % 50]


def test_project_sign_matches_the_edge_printout() -> None:
    """Same page shape, marker, and ink layout as ``counterwatch sign`` (edge/sign_cli.py) renders."""
    sign_cli = pytest.importorskip("edge.sign_cli")
    edge = cv2.cvtColor(np.asarray(sign_cli.render_sign(12, dpi=60)), cv2.COLOR_RGB2BGR)
    h, w = edge.shape[:2]
    face = signs.FontFace("wqy", str(sign_cli.find_cjk_font()))
    ours = signs.render_project_sign(12, face, width=w)[:, :, :3]
    assert abs(ours.shape[0] - h) <= 2
    assert detect_markers(ours) == detect_markers(edge) == [12]
    ours = cv2.resize(ours, (w, h))

    def ink_rows(img: np.ndarray) -> np.ndarray:  # fraction of dark/coloured pixels per horizontal band
        ink = (cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) < 200).astype(np.float32)
        return cv2.resize(ink, (1, 20), interpolation=cv2.INTER_AREA).ravel()

    assert np.abs(ink_rows(ours) - ink_rows(edge)).max() < 0.08
    red = (ours[:, :, 2] > 120) & (ours[:, :, 0] < 60)
    assert red[: h // 5].mean() > 0.02 and red[h // 5 :].mean() < 0.001  # 暂停服务 in red at the top only


def test_font_families_for_training_and_holdout_are_disjoint_and_installed() -> None:
    assert not set(signs.TRAIN_FONT_FAMILIES) & set(signs.HELDOUT_FONT_FAMILIES)
    train = signs.available_faces(signs.TRAIN_FONT_FAMILIES)
    held = signs.available_faces(signs.HELDOUT_FONT_FAMILIES)
    assert {f.family for f in train} == set(signs.TRAIN_FONT_FAMILIES)
    assert not {f.path for f in train} & {f.path for f in held}


@pytest.mark.parametrize("family", sorted(signs.FONT_FAMILIES))
def test_every_font_renders_cjk_glyphs(family: str) -> None:
    rng = np.random.default_rng(0)
    for face in signs.available_faces((family,)):
        card = signs.render_placard("暂停办理", face, rng)
        bg = np.median(card[:, :, :3].reshape(-1, 3), axis=0)
        ink = np.abs(card[:, :, :3].astype(int) - bg).sum(axis=2) > 60
        assert 0.05 < ink.mean() < 0.6, face  # glyphs drawn (not tofu boxes or nothing)


def test_unknown_font_family_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(signs.FONT_FAMILIES, "missing", (signs.FontFace("missing", "/nonexistent.ttc"),))
    with pytest.raises(FileNotFoundError, match="missing"):
        signs.available_faces(("missing",))


def test_pasted_sign_box_covers_the_visible_card() -> None:
    rng = np.random.default_rng(3)
    faces = signs.available_faces(signs.TRAIN_FONT_FAMILIES)
    for _ in range(20):
        bg = np.full((360, 480, 3), 90, np.uint8)
        card, label_h = signs.pause_sign(rng, faces)
        pasted = composite.paste(bg, card, rng, width_frac=(0.1, 0.3), cy_frac=(0.3, 0.8), label_h=label_h,
                                 occlude_p=0.0)
        if pasted is None:
            continue
        x1, y1, x2, y2 = (int(v) for v in pasted.box)
        assert 0 <= x1 < x2 <= 480 and 0 <= y1 < y2 <= 360
        changed = np.abs(bg.astype(int) - 90).sum(axis=2) > 30
        inside = changed[y1 : y2 + 1, x1 : x2 + 1].sum()
        assert inside > 0.5 * changed.sum()  # the card (not the stand) lies inside the box
        assert pasted.mask[y1:y2, x1:x2].mean() > 0.4


def test_occlusion_shrinks_the_label_to_what_is_visible() -> None:
    face = signs.available_faces(signs.TRAIN_FONT_FAMILIES)[0]
    card = signs.render_project_sign(1, face, width=200)
    heights = []
    for occlude in (0.0, 1.0):
        rng = np.random.default_rng(11)
        bg = np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)
        pasted = composite.paste(bg, card, rng, width_frac=(0.25, 0.25), cy_frac=(0.5, 0.5), max_rotate=0,
                                 perspective=0.0, occlude_p=occlude)
        assert pasted is not None
        heights.append(pasted.box[3] - pasted.box[1])
    assert heights[1] < heights[0]


def test_distractors_never_say_pause() -> None:
    assert not any(t.startswith("暂停") for t in signs.DISTRACTOR_TEXTS)
