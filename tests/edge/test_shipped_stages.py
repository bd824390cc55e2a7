"""Every second stage's manifest entry, read by one reader (edge/detect.py shipped_stage): the shipped ones
load and match their files, a broken one is refused by name, a missing one is simply not shipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.clerk_stage import BehaviourSpec
from edge.detect import MANIFEST, ModelError, StageSpec, sha256_file, shipped_stage
from edge.presence import PresenceSpec
from edge.sign import VerifierSpec

STAGES = [("presence", PresenceSpec), ("behaviour", BehaviourSpec), ("sign_verifier", VerifierSpec)]


@pytest.mark.parametrize(("key", "spec"), STAGES)
def test_every_shipped_stage_reads_from_the_manifest(key: str, spec: type[StageSpec]) -> None:
    shipped = shipped_stage(MANIFEST, key, spec)
    assert shipped is not None, f"the manifest ships no {key}"
    path, found = shipped
    assert path.is_file() and sha256_file(path) == found.sha256


@pytest.mark.parametrize(("key", "spec"), STAGES)
def test_a_broken_stage_entry_is_refused_by_name(tmp_path: Path, key: str, spec: type[StageSpec]) -> None:
    entry = json.loads(MANIFEST.read_text())[key]
    broken = tmp_path / "manifest.json"
    broken.write_text(json.dumps({key: {**entry, "input": {**entry["input"], "size": "large"}}}))
    with pytest.raises(ModelError, match=f"invalid {key} entry"):
        shipped_stage(broken, key, spec)
    broken.write_text(json.dumps({key: {**entry, "input": "not a mapping"}}))
    with pytest.raises(ModelError, match=f"invalid {key} entry"):
        shipped_stage(broken, key, spec)


def test_a_manifest_without_the_stage_ships_none(tmp_path: Path) -> None:
    empty = tmp_path / "manifest.json"
    empty.write_text("{}")
    assert shipped_stage(empty, "presence", PresenceSpec) is None
    assert shipped_stage(tmp_path / "absent.json", "presence", PresenceSpec) is None
