"""Scenario files: every shipped and benched one validates, and the checks that keep them honest hold."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rigs.scenarios.spec import DEMO_DIR, Scenario, load_scenario, scenario_files

ZONES = {"staff": [[0.4, 0.0], [0.8, 0.0], [0.8, 1.0], [0.4, 1.0]],
         "customer": [[0.3, 0.5], [0.9, 0.5], [0.9, 1.0], [0.3, 1.0]]}


def scenario(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "s", "description": "d",
        "clip": {"grid": [2, 1], "tiles": [{"segments": [{"source": "standing-table", "start": 0, "end": 10}]},
                                            {"segments": [{"source": "standing-table", "start": 20, "end": 25,
                                                           "repeat": 2}]}]},
        "windows": [{"id": "w01", "number": 1, "tile": [1, 0], "customer_tile": [0, 0], "zones": ZONES}],
        "truth": [{"rule": "absence_over_30min", "window": "w01", "start": 2.0, "end": 8.0}],
        "shippable": True,
    }
    return {**base, **overrides}


def test_every_scenario_file_validates() -> None:
    files = scenario_files()
    names = [load_scenario(p).name for p in files]
    assert {"demo-hall", "demo-lens", "absence-no-sign", "camera-covered"} <= set(names)
    assert len(names) == len(set(names))
    assert any(load_scenario(p).ci for p in files)


def test_the_shipped_demo_uses_only_redistributable_footage() -> None:
    for path in scenario_files(DEMO_DIR):
        assert load_scenario(path).shippable, path
        assert path.with_suffix(".mp4").exists(), f"{path.name}: its built clip must ship beside it"
    assert (DEMO_DIR / "ATTRIBUTION.md").read_text().count("CC BY 4.0") >= 2


def test_zones_are_placed_in_their_tile_of_the_split_screen() -> None:
    window = Scenario.model_validate(scenario()).edge_windows()[0]
    assert window.zones.staff[0] == (0.7, 0.0) and window.zones.staff[2] == (0.9, 1.0)  # right half
    assert window.zones.customer is not None
    assert window.zones.customer[0] == (0.15, 0.5)  # the customer zone sits in the left tile


@pytest.mark.parametrize(("change", "message"), [
    ({"clip": {"grid": [2, 1], "tiles": [{"segments": [{"source": "standing-table", "start": 0, "end": 10}]},
                                          {"segments": [{"source": "standing-table", "start": 0, "end": 9}]}]}},
     "as long as the others"),
    ({"truth": [{"rule": "absence_over_30min", "window": "w09", "start": 1.0}]}, "not one of"),
    ({"truth": [{"rule": "absence_over_30min", "window": "w01", "start": 11.0}]}, "outside the clip"),
    ({"rules": {"absence_minutes": 5}}, "absence_minutes"),
    ({"clip": {"tiles": [{"segments": [{"source": "nurse-station", "start": 0, "end": 10}]}]},
      "windows": [{"id": "w01", "number": 1, "zones": ZONES}], "truth": []}, "only the CC BY"),
    ({"windows": [{"id": "w01", "number": 1, "tile": [2, 0], "zones": ZONES}], "truth": []}, "outside the 2x1"),
])
def test_inconsistent_scenarios_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Scenario.model_validate(scenario(**change))
