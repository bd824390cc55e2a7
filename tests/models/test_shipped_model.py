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
from models.release import CI_SAMPLE
from models.sample import SAMPLE_SPLIT, build_sample

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
