"""Ground truth from labelled stills: the ``phone_use`` timeline of each window, read from human phone boxes.

A still counts for a window when one of its labelled *held* phones (every box of the bwssytems set is a
phone in someone's hand) has its centre in the window's staff zone; consecutive such stills at most
``max_gap_s`` apart make one stretch, which is one ``phone_use`` truth from its first still to its last.
A still without such a phone, or a longer gap (nobody looked at those frames), ends the stretch. A phone
held outside every staff zone (a customer at the glass) is nobody's phone use.

    python -m rigs.scenarios.truth NAME [--data DIR]   # print the scenario's phone_use truth as YAML lines

The scenario files carry the printed truth (so they load without the data); tests/scenarios/test_truth.py
checks the rule on a tiny fixture, and the files against it where the data is present.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from broker.payloads import Rule
from edge.zones import Zone
from rigs.scenarios.spec import DATA, FRAME_SOURCES, SCENARIO_DIR, Scenario, TruthEvent, load_scenario

PHONE_CLASS = 0  # bwssytems: one class, a held phone
MAX_GAP_S = 2.5  # labelled stills further apart than this do not vouch for the frames between them


@dataclass(frozen=True)
class LabelledStill:
    at: float  # seconds in the source video
    phones: tuple[tuple[float, float], ...]  # centres of the held phones, frame fractions


def read_labels(path: Path, classes: frozenset[int] = frozenset({PHONE_CLASS})) -> tuple[tuple[float, float], ...]:
    """Centres of the YOLO boxes (``cls cx cy w h``, normalised) of the given classes; no file: none."""
    if not path.exists():
        return ()
    centres = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 5 and int(float(parts[0])) in classes:
            centres.append((float(parts[1]), float(parts[2])))
    return tuple(centres)


def labelled_stills(source: str, data: Path = DATA) -> list[LabelledStill]:
    seq = FRAME_SOURCES[source]
    return [LabelledStill(at, read_labels(seq.labels_of(image))) for at, image in seq.stills(data)]


def held_stretches(stills: list[LabelledStill], staff: Zone, max_gap_s: float = MAX_GAP_S
                   ) -> list[tuple[float, float]]:
    """(first, last) source times of each run of stills with a held phone in the staff zone."""
    out: list[tuple[float, float]] = []
    run: list[float] = []
    for still in sorted(stills, key=lambda s: s.at):
        held = any(staff.contains(x, y) for x, y in still.phones)
        if held and run and still.at - run[-1] > max_gap_s:
            out.append((run[0], run[-1]))
            run = []
        if held:
            run.append(still.at)
        elif run:
            out.append((run[0], run[-1]))
            run = []
    if run:
        out.append((run[0], run[-1]))
    return out


def phone_truth(scenario: Scenario, data: Path = DATA, max_gap_s: float = MAX_GAP_S) -> list[TruthEvent]:
    """The phone_use truth of every window whose tile plays a labelled frame sequence, in clip seconds.
    Zones are in tile coordinates and a tile is the whole source frame resized, so a label's normalised
    centre is tested against the zone as it is."""
    out = []
    for window in scenario.windows:
        cols = scenario.clip.grid[0]
        tile = scenario.clip.tiles[window.tile[1] * cols + window.tile[0]]
        staff = Zone(window.zones.staff, (1, 1))
        offset = 0.0
        for seg in tile.segments:
            if seg.source in FRAME_SOURCES:
                stills = [s for s in labelled_stills(seg.source, data) if seg.start <= s.at < seg.end]
                for k in range(seg.repeat):
                    base = offset + k * (seg.end - seg.start) - seg.start
                    for first, last in held_stretches(stills, staff, max_gap_s):
                        out.append(TruthEvent(rule=Rule.PHONE_USE, window=window.id, start=round(base + first, 2),
                                              end=round(base + last, 2), note=f"held phone labelled in {seg.source}"))
            offset += seg.duration
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rigs.scenarios.truth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="a scenario in config/scenarios")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-gap", type=float, default=MAX_GAP_S)
    args = parser.parse_args(argv)
    scenario = load_scenario(SCENARIO_DIR / f"{args.name}.yaml")
    for t in phone_truth(scenario, args.data, args.max_gap):
        print(f"  - {{rule: {t.rule.value}, window: {t.window}, start: {t.start}, end: {t.end}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
