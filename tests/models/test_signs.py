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
        sign = signs.pause_sign(rng, faces)
        pasted = composite.paste(bg, sign.rgba, rng, width_frac=(0.1, 0.3), cy_frac=(0.3, 0.8),
                                 label_h=sign.label_h, occlude_p=0.0)
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


def _ink_rows(card: np.ndarray, bands: int) -> np.ndarray:
    """Share of pixels far from the card's dominant colour, per horizontal band."""
    rgb = card[:, :, :3].astype(int)
    bg = np.median(rgb.reshape(-1, 3), axis=0)
    ink = (np.abs(rgb - bg).sum(axis=2) > 60).astype(np.float32)
    return cv2.resize(ink, (1, bands), interpolation=cv2.INTER_AREA).ravel()


def test_two_line_placard_draws_both_lines() -> None:
    """暂停服务 over 请到其他窗口办理: ink in the top and the bottom half, in every layout variant drawn."""
    rng = np.random.default_rng(2)
    for face in signs.available_faces(signs.HELDOUT_FONT_FAMILIES + signs.TRAIN_FONT_FAMILIES):
        for _ in range(4):
            card = signs.render_two_line("暂停服务", "请到其他窗口办理", face, rng)
            top, bottom = _ink_rows(card, 2)
            assert top > 0.03 and bottom > 0.03, (face, top, bottom)


def test_two_line_wraps_the_long_line_where_a_printer_would() -> None:
    assert signs._wrap("请到其他窗口办理") == ["请到其他", "窗口办理"]
    assert signs._wrap("请您谅解") == ["请您谅解"]
    assert signs._wrap("Please use another window") == ["Please use another window"]


def test_positives_record_their_layout() -> None:
    faces = signs.available_faces(signs.TRAIN_FONT_FAMILIES)
    rng = np.random.default_rng(4)
    made = [signs.pause_sign(rng, faces) for _ in range(80)]
    layouts = {s.layout for s in made}
    assert layouts == {"project", "placard", "two_line"}
    assert all(s.second in signs.TWO_LINE_SECONDS for s in made if s.layout == "two_line")
    assert all(0 < s.label_h <= s.rgba.shape[0] for s in made)
    old = [signs.pause_sign(np.random.default_rng(k), faces, two_line_p=0.0) for k in range(30)]
    assert "two_line" not in {s.layout for s in old}
