"""The printable pause sign: render it, put it into a synthetic scene in perspective, find it again."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.sign import ArucoReader, OcrWorker, SignVote, is_pause_text, marker_id
from edge.sign_cli import render_sign

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def scene_with_sign(window: int, width_px: int = 140, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A cluttered 1280x720 desk scene with the sign lying tilted on it; returns (image, sign quad)."""
    rng = np.random.default_rng(seed)
    scene = rng.integers(60, 200, (720, 1280, 3), dtype=np.uint8)
    scene = cv2.GaussianBlur(scene, (9, 9), 0)
    for _ in range(40):  # desk clutter: papers and dark objects
        x, y = rng.integers(0, 1200), rng.integers(0, 650)
        cv2.rectangle(scene, (int(x), int(y)), (int(x + rng.integers(20, 120)), int(y + rng.integers(20, 90))),
                      tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    sign = cv2.cvtColor(np.asarray(render_sign(window, dpi=100)), cv2.COLOR_RGB2BGR)
    h, w = sign.shape[:2]
    height_px = width_px * h / w
    x0, y0 = 700, 300
    quad = np.float32([[x0, y0], [x0 + width_px, y0 + 12], [x0 + width_px * 0.92, y0 + height_px * 0.8],
                       [x0 - 10, y0 + height_px * 0.75]])  # seen from above and to the side
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), quad)
    warped = cv2.warpPerspective(sign, m, (1280, 720))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (1280, 720))
    scene[mask > 0] = warped[mask > 0]
    noise = rng.normal(0, 4, scene.shape)
    return np.clip(scene + noise, 0, 255).astype(np.uint8), quad


def test_sign_marker_is_found_in_a_perspective_scene() -> None:
    scene, quad = scene_with_sign(12)
    found = ArucoReader().markers(scene)
    assert [mid for mid, _ in found] == [marker_id(12)]
    centre = found[0][1].mean(axis=0)
    assert cv2.pointPolygonTest(quad.reshape(-1, 1, 2), (float(centre[0]), float(centre[1])), False) > 0


def test_marker_ids_wrap_at_50() -> None:
    assert marker_id(12) == 12 and marker_id(62) == 12
    scene, _ = scene_with_sign(62, seed=1)
    assert [mid for mid, _ in ArucoReader().markers(scene)] == [12]


def test_plain_scene_has_no_marker() -> None:
    rng = np.random.default_rng(3)
    assert ArucoReader().markers(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)) == []


@pytest.mark.parametrize(
    ("text", "pause"),
    [("暂停服务", True), ("暂停 办理", True), ("本窗口暂停受理业务", True), ("离岗", True),
     ("Service paused", True), ("欢迎光临", False), ("2022-02-14 10:02:58", False)],
)
def test_pause_text(text: str, pause: bool) -> None:
    assert is_pause_text(text) is pause


@pytest.mark.slow
def test_ocr_reads_the_rendered_sign() -> None:
    sign = cv2.cvtColor(np.asarray(render_sign(7, dpi=60)), cv2.COLOR_RGB2BGR)
    lines = OcrWorker().read(sign)
    assert any(is_pause_text(text) for _, text, _ in lines), [t for _, t, _ in lines]


def test_sign_vote_k_of_n_and_hold() -> None:
    vote = SignVote(k=2, n=3, hold_s=5.0)
    at = [T0 + timedelta(seconds=i) for i in range(20)]
    assert vote.update(at[0], aruco=True) is False  # one sighting is not enough
    assert vote.update(at[1], aruco=True) is True and vote.cue == "aruco"
    # An arm over the sign for 4 s: still up.
    assert all(vote.update(at[i]) for i in range(2, 7))
    assert vote.update(at[7]) is False  # 6 s after the last sighting
    assert vote.update(at[8], ocr=True) is False
    assert vote.update(at[9], ocr=True) is True and vote.cue == "ocr"


def test_sign_command_writes_pdf_and_png(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    for name in ("sign.pdf", "sign.png"):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "counterwatch.cli", "sign", "--window", "12", "--out", str(out)],
                              capture_output=True, text=True, cwd=root, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert out.stat().st_size > 10_000
    assert (tmp_path / "sign.pdf").read_bytes().startswith(b"%PDF")
    png = cv2.imread(str(tmp_path / "sign.png"))
    assert [mid for mid, _ in ArucoReader().markers(png)] == [12]


def test_sign_without_cjk_font_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge.sign_cli as cli

    monkeypatch.setattr(cli, "FONT_CANDIDATES", [Path("/nonexistent/font.ttc")])
    with pytest.raises(cli.SignError, match="no CJK font"):
        cli.render_sign(3)
