"""models/manifest.py: the edge refuses a model whose file does not match its manifest."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from models.manifest import ManifestError, load, verify
from models.taxonomy import CLASSES

# CW_MODEL_DIR: check another model + manifest folder (a candidate) with the same tests.
MODELS = Path(os.environ.get("CW_MODEL_DIR", Path(__file__).resolve().parents[2] / "models"))


@pytest.fixture()
def shipped(tmp_path: Path) -> Path:
    """A copy of the shipped manifest and model in a scratch folder."""
    manifest = load(MODELS / "manifest.json")
    shutil.copyfile(MODELS / "manifest.json", tmp_path / "manifest.json")
    shutil.copyfile(MODELS / manifest.file, tmp_path / manifest.file)
    return tmp_path


def test_shipped_manifest_is_valid_and_verifies() -> None:
    manifest = load(MODELS)
    assert manifest.classes == list(CLASSES)
    assert manifest.input.imgsz == 320
    assert verify(MODELS) == (MODELS / manifest.file).resolve()
    assert any(s.proxy for s in manifest.data_sources)  # the footwear/sign proxy caveat is recorded
    assert all(c.passed is (c.value >= c.threshold) for c in manifest.acceptance)


def test_tampered_model_is_refused(shipped: Path) -> None:
    manifest = load(shipped)
    with (shipped / manifest.file).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match="sha256"):
        verify(shipped / "manifest.json")


def test_missing_model_or_manifest_is_a_clear_error(shipped: Path, tmp_path_factory: pytest.TempPathFactory
                                                     ) -> None:
    (shipped / load(shipped).file).unlink()
    with pytest.raises(ManifestError, match="does not exist"):
        verify(shipped)
    with pytest.raises(ManifestError, match="no model manifest"):
        verify(tmp_path_factory.mktemp("empty"))


def test_malformed_manifest_names_the_problem(shipped: Path) -> None:
    data = json.loads((shipped / "manifest.json").read_text())
    del data["sha256"]
    (shipped / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="sha256"):
        load(shipped)
