"""CI never trains: it rebuilds the small labelled sample (models/sample.py) from ../shared and the sign
generator, scores the shipped model on it through the real CLI (onnxruntime only), and fails if a class
falls below the manifest's numbers by more than MARGIN."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from counterwatch.cli import main as counterwatch
from models.manifest import load, verify
from models.metrics import GroupRecall
from models.quantize import MAX_AP50_DROP
from models.release import CI_SAMPLE
from models.sample import SAMPLE_SPLIT, build_sample
from models.signverify_release import CI_TWO_LINE, TWO_LINE_SEED, TWO_LINE_SIGNS

pytestmark = pytest.mark.slow
# CW_MODEL_DIR: check another model + manifest folder (a candidate) with the same tests.
MODELS = Path(os.environ.get("CW_MODEL_DIR", Path(__file__).resolve().parents[2] / "models"))
MARGIN = 0.05


@pytest.fixture(scope="module")
def sample(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    counts = build_sample(shared_dir, out)
    assert counts["synthetic-signs"]["pause_sign"] > 30
    assert counts["suspisense-phone"]["phone"] > 10
    return out


def test_sample_is_deterministic(shared_dir: Path, sample: Path, tmp_path: Path) -> None:
    again = build_sample(shared_dir, tmp_path, phones=2, signs_n=3, feet=2)
    first = sorted((sample / "images" / SAMPLE_SPLIT).glob("sign_000*.png"))[:3]
    for a in first:
        assert (tmp_path / "images" / SAMPLE_SPLIT / a.name).read_bytes() == a.read_bytes()
    assert again["synthetic-signs"]["images"] == 3


def test_shipped_model_holds_its_manifest_metrics(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = verify(MODELS)
    expected = load(MODELS).metrics[CI_SAMPLE]
    assert counterwatch(["models", "evaluate", "--model", str(model), "--data", str(sample), "--split",
                         SAMPLE_SPLIT, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == expected.images
    assert report["ms_per_image_mean"] > 0
    for name, want in expected.classes.items():
        got = report["classes"][name]
        assert got["gt"] == want.gt, name
        assert got["ap50"] >= want.ap50 - MARGIN, (name, got, want)
        assert got["recall"] >= want.recall - MARGIN, (name, got, want)
    assert {"phone", "pause_sign", "slipper", "shoe"} <= set(expected.classes)


def test_shipped_sign_verifier_holds_its_manifest_metrics(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Detector + second-stage verifier (the wiring the manifest ships) on the same sample: pause_sign AP50,
    recall at the verifier's threshold and recall at precision >= 0.95 within MARGIN of the manifest."""
    entry = load(MODELS).sign_verifier
    assert entry is not None, "the manifest ships no sign verifier"
    expected = entry.metrics[CI_SAMPLE].classes["pause_sign"]
    model = verify(MODELS)  # checks the verifier's sha256 too
    assert counterwatch(["models", "evaluate", "--model", str(model), "--data", str(sample), "--split",
                         SAMPLE_SPLIT, "--sign-verifier", "manifest", "--conf", str(entry.threshold),
                         "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    got = report["classes"]["pause_sign"]
    assert report["verifier_crops"] > 0 and report["verifier_ms_per_crop_mean"] > 0
    assert got["gt"] == expected.gt
    for key in ("ap50", "recall", "recall_at_p95"):
        assert got[key] >= getattr(expected, key) - MARGIN, (key, got, expected)
    detector_alone = load(MODELS).metrics[CI_SAMPLE].classes["pause_sign"]
    assert got["recall_at_p95"] > detector_alone.recall_at_p95  # the second stage pays for itself


def _group_floor(want: GroupRecall) -> int:
    """Signs a group may lose against the manifest: MARGIN of its size, at least one."""
    return max(1, round(MARGIN * want.gt))


def test_shipped_sign_verifier_holds_its_per_group_recall(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CI sample's per-group pause-sign recall (layout, small signs) as the manifest records it."""
    entry = load(MODELS).sign_verifier
    assert entry is not None and CI_SAMPLE in entry.sign_groups, "the manifest records no per-group recall"
    assert counterwatch(["models", "evaluate", "--model", str(verify(MODELS)), "--data", str(sample), "--split",
                         SAMPLE_SPLIT, "--sign-verifier", "manifest", "--conf", str(entry.threshold), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["sign_groups"]
    for name, want in entry.sign_groups[CI_SAMPLE].items():
        assert got[name]["gt"] == want.gt, name
        assert got[name]["found"] >= want.found - _group_floor(want), (name, got[name], want)


def test_shipped_sign_verifier_holds_its_two_line_placard_figures(shared_dir: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The two-line companion sample (every sign 暂停服务 over a second line such as 请到其他窗口办理, the
    look-alikes two-line too), rebuilt as the release built it, against the manifest."""
    entry = load(MODELS).sign_verifier
    assert entry is not None and CI_TWO_LINE in entry.metrics
    build_sample(shared_dir, tmp_path, seed=TWO_LINE_SEED, phones=0, feet=0, signs_n=TWO_LINE_SIGNS, two_line_p=1.0)
    assert counterwatch(["models", "evaluate", "--model", str(verify(MODELS)), "--data", str(tmp_path), "--split",
                         SAMPLE_SPLIT, "--sign-verifier", "manifest", "--conf", str(entry.threshold), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    got, want = report["classes"]["pause_sign"], entry.metrics[CI_TWO_LINE].classes["pause_sign"]
    assert got["gt"] == want.gt
    for key in ("ap50", "precision", "recall"):
        assert got[key] >= getattr(want, key) - MARGIN, (key, got, want)
    two_line = entry.sign_groups[CI_TWO_LINE]["two_line_placard"]
    assert report["sign_groups"]["two_line_placard"]["found"] >= two_line.found - _group_floor(two_line)


def test_shipped_int8_build_holds_its_figures_and_the_float_models(sample: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The edge's default build (models/quantize.py) on the CI sample: every class within MARGIN of what its
    manifest entry records, and the recorded loss against the float model (pooled with the fresh-font signs)
    at most 0.01 AP50 per class."""
    manifest = load(MODELS)
    build = manifest.int8
    assert build is not None and build.passed, "the manifest ships no passed int8 build"
    assert build.source_sha256 == manifest.sha256
    float_side = build.checks["fp32"][CI_SAMPLE]["classes"]
    for name, want in manifest.metrics[CI_SAMPLE].classes.items():  # its float side is the shipped figure
        assert abs(float_side[name]["ap50"] - want.ap50) < 1e-3, name
    assert max(build.ap50_drop.values()) <= MAX_AP50_DROP
    verify(MODELS)  # checks the int8 file's sha256 too
    assert counterwatch(["models", "evaluate", "--model", str(MODELS / build.file), "--data", str(sample),
                         "--split", SAMPLE_SPLIT, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["classes"]
    for name, want_int8 in build.checks["int8"][CI_SAMPLE]["classes"].items():
        assert got[name]["gt"] == want_int8["gt"], name
        assert got[name]["ap50"] >= want_int8["ap50"] - MARGIN, (name, got[name], want_int8)
