"""A scenario file: how its clip is cut from real footage, the windows it shows, and what should happen.

Times are seconds from the start of the scenario clip. A clip is a grid of tiles (one tile: a plain camera;
2x2: a DVR split screen, one window per tile); each tile plays a list of segments of real source clips,
and camera-wide effects (a covered lens, a frozen picture) are applied over the whole frame. Window zones
are written in *tile* coordinates, so one set of zones fits the same footage in any tile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from broker.payloads import Rule, SegmentId
from edge.settings import RuleThresholds, WindowConfig, Zones

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = ROOT / "config" / "scenarios"
DEMO_DIR = ROOT / "counterwatch" / "demo"  # the shipped demo's scenarios and clips (CC BY footage only)
SHARED = ROOT.parent / "shared" / "datasets"
# Footage that is neither shipped nor in ../shared (fetched by hand, e.g. a GPL or unlicensed set): its own
# folder, ``--data`` on the command line or CW_SCENARIO_DATA; scenarios that need it are skipped without it.
DATA = Path(os.environ.get("CW_SCENARIO_DATA") or ROOT / "var" / "scenario-data")

# Source footage by name. Only ``standing-table`` may ship (CC BY 4.0); the others are for tests and benches.
SOURCES = {
    "standing-table": "standing-table-intel-ccby/one-by-one-person-detection.mp4",
    "nurse-station": "nurse-station-istock/nurse_station_counter.mp4",
    "openoffice-arrive": "openoffice-topdown-istock/openoffice_arrive_sit.mp4",
    "office-nix": "office-cctv-nix-4desks/office_cctv_nix.mp4",
    "reception": "reception-desk-fisheye/reception_fisheye.mp4",
    "classroom": "classroom-cctv-topdown/classroom_cctv_2019-12-02.mp4",
}


@dataclass(frozen=True)
class FrameSequence:
    """Labelled stills of one video (``<prefix><frame number>.jpg``, YOLO labels beside them under
    ``labels/``) kept at their media times, ``(number - 1) / fps``: played as a stepped replay, each still
    standing until the next (what a recorder at a low frame rate gives). Nothing is interpolated."""

    images: str  # folder under the data root
    prefix: str
    fps: float  # of the source video, read from its burned-in clock (frame number -> seconds)
    fetch: str  # how to get the data

    def stills(self, data: Path) -> list[tuple[float, Path]]:
        """(media time, image file) of every still, in time order."""
        out = []
        for path in (data / self.images).glob(f"{self.prefix}*.jpg"):
            number = path.stem[len(self.prefix):]
            if number.isdigit():
                out.append(((int(number) - 1) / self.fps, path))
        return sorted(out)

    @staticmethod
    def labels_of(image: Path) -> Path:
        """The YOLO label file of a still: ``.../images/<split>/x.jpg`` -> ``.../labels/<split>/x.txt``."""
        return image.parents[2] / "labels" / image.parent.name / f"{image.stem}.txt"


_BWSS_FETCH = ("fetch github:bwssytems/phone-usage-computer-vision, then python -m models.data.phone_bwssytems "
               "--git <its git dir> --out $CW_SCENARIO_DATA/phone-usage-bwssytems (models/datasets/"
               "phone-usage-bwssytems.md)")
# Frame sequences by name, under the data root (DATA). Only videos in the behaviour stage's *validation*
# split (models/data/phone_bwssytems.py video_split) are listed: the stage never trained on them.
FRAME_SOURCES = {
    # Store-counter CCTV: a seated clerk browses his phone behind the counter; 6 labelled stills over 4 s.
    # The OSD clock reads 10:57:37 at frame 1 and 10:57:41 at frame 49: about 12 frames a second.
    "bwss-counter-145802": FrameSequence("phone-usage-bwssytems/images/val", "20250718_145802_46039155_f",
                                         12.0, _BWSS_FETCH),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignOverlay(_Strict):
    """The project's printable pause sign (``counterwatch sign``) standing on the counter."""

    window: int = Field(ge=0, description="window number printed on the sign (ArUco id = number % 50)")
    x: float = Field(ge=0, le=1, description="centre of the sign's foot, tile fraction")
    y: float = Field(ge=0, le=1, description="bottom of the sign, tile fraction")
    width: float = Field(gt=0, le=1, description="sign width, tile fraction")


class Segment(_Strict):
    source: str = Field(description="a name in SOURCES or FRAME_SOURCES, or a path to a video file")
    start: float = Field(ge=0)
    end: float
    repeat: int = Field(1, ge=1, description="play the segment this many times in a row")
    sign: SignOverlay | None = None

    @model_validator(mode="after")
    def _order(self) -> Segment:
        if self.end <= self.start:
            raise ValueError(f"segment ends ({self.end}) before it starts ({self.start})")
        return self

    @property
    def duration(self) -> float:
        return (self.end - self.start) * self.repeat


class Tile(_Strict):
    segments: list[Segment] = Field(min_length=1)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


class CameraEffect(_Strict):
    kind: Literal["cover", "freeze"]  # cover: a hand / cloth over the lens; freeze: a stuck encoder
    start: float = Field(ge=0)
    end: float


class ClipRecipe(_Strict):
    fps: float = Field(10.0, gt=0, le=30)
    tile_size: tuple[int, int] = (768, 432)
    grid: tuple[int, int] = Field((1, 1), description="columns, rows")
    tiles: list[Tile] = Field(min_length=1)
    effects: list[CameraEffect] = []
    crf: int = Field(28, ge=0, le=51)

    @model_validator(mode="after")
    def _shape(self) -> ClipRecipe:
        cols, rows = self.grid
        if len(self.tiles) != cols * rows:
            raise ValueError(f"a {cols}x{rows} grid needs {cols * rows} tiles, not {len(self.tiles)}")
        durations = {round(t.duration, 3) for t in self.tiles}
        if len(durations) != 1:
            raise ValueError(f"every tile must last as long as the others: {sorted(durations)}")
        return self

    @property
    def duration(self) -> float:
        return self.tiles[0].duration

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.tile_size[0] * self.grid[0], self.tile_size[1] * self.grid[1]


class ScenarioWindow(_Strict):
    id: SegmentId
    number: int = Field(ge=0)
    tile: tuple[int, int] = Field((0, 0), description="column, row of the tile this window is seen in")
    customer_tile: tuple[int, int] | None = Field(
        None, description="the customer zone is in this tile (a split screen with a view of the queue)")
    zones: Zones  # in tile coordinates

    def edge_window(self, grid: tuple[int, int]) -> WindowConfig:
        cols, rows = grid

        def place(poly: list[tuple[float, float]] | None, tile: tuple[int, int]) -> list[tuple[float, float]] | None:
            if poly is None:
                return None
            col, row = tile
            return [(round((col + x) / cols, 5), round((row + y) / rows, 5)) for x, y in poly]

        z, own = self.zones, self.tile
        zones = Zones(staff=place(z.staff, own) or [], counter=place(z.counter, own), floor=place(z.floor, own),
                      customer=place(z.customer, self.customer_tile or own))
        return WindowConfig(id=self.id, number=self.number, zones=zones)


class TruthEvent(_Strict):
    rule: Rule
    window: SegmentId
    start: float = Field(ge=0, description="when the condition really began (what the alert should say)")
    end: float | None = Field(None, description="when it stopped; null: still going when the clip ends")
    note: str = ""


class Scenario(_Strict):
    name: SegmentId
    description: str
    clip: ClipRecipe
    windows: list[ScenarioWindow] = Field(min_length=1)
    rules: dict[str, float | int | bool] = Field(default_factory=dict, description="RuleThresholds overrides")
    analysis_fps: float = Field(5.0, gt=0, le=30)
    tolerance_s: float = Field(5.0, gt=0, description="an event matches a truth when its start is this close")
    ci: bool = Field(False, description="part of the short subset the test suite runs")
    shippable: bool = Field(False, description="made only from footage that may be redistributed")
    truth: list[TruthEvent] = []
    unsupported: list[str] = Field(default_factory=list, description="stories this footage cannot show, and why")

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        RuleThresholds(**self.rules)  # unknown or invalid thresholds fail here
        ids = {w.id for w in self.windows}
        cols, rows = self.clip.grid
        for w in self.windows:
            if not (0 <= w.tile[0] < cols and 0 <= w.tile[1] < rows):
                raise ValueError(f"window {w.id} sits in tile {list(w.tile)}, outside the {cols}x{rows} grid")
        for t in self.truth:
            if t.window not in ids:
                raise ValueError(f"truth names window {t.window!r}, not one of {sorted(ids)}")
            if t.start > self.clip.duration or (t.end is not None and t.end < t.start):
                raise ValueError(f"truth {t.rule.value}@{t.start}s lies outside the clip or ends before it starts")
        if self.shippable:
            used = {s.source for tile in self.clip.tiles for s in tile.segments}
            if used != {"standing-table"}:
                raise ValueError(f"a shippable scenario may use only the CC BY standing-table clip, not {used}")
        return self

    @property
    def thresholds(self) -> RuleThresholds:
        return RuleThresholds(**self.rules)

    def edge_windows(self) -> list[WindowConfig]:
        return [w.edge_window(self.clip.grid) for w in self.windows]

    def window_numbers(self) -> dict[str, int]:
        return {w.id: w.number for w in self.windows}


def load_scenario(path: Path) -> Scenario:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Scenario.model_validate(data)


def scenario_files(*directories: Path) -> list[Path]:
    return sorted(p for d in (directories or (SCENARIO_DIR, DEMO_DIR)) for p in d.glob("*.yaml"))


def source_path(name: str, shared: Path = SHARED, data: Path = DATA) -> Path:
    """A video file, or for a frame sequence its folder of stills."""
    if name in FRAME_SOURCES:
        return data / FRAME_SOURCES[name].images
    return shared / SOURCES[name] if name in SOURCES else Path(name)
