"""Render a scenario's clip from real footage: segments of the source clips re-timed (cut, repeated), put
side by side in a grid (a DVR split screen), the project's printed pause sign pasted on the counter where
the story has one, and camera-wide effects (a covered lens, a frozen picture). Every pixel of a person is
real footage; nothing is drawn but the sign, which the project makes itself.

    python -m rigs.scenarios build [NAME ...] [--out var/scenarios]   # all scenarios when no name is given
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from rigs.scenarios.spec import (
    DATA,
    DEMO_DIR,
    FRAME_SOURCES,
    ROOT,
    SHARED,
    ClipRecipe,
    Scenario,
    Segment,
    SignOverlay,
    load_scenario,
    scenario_files,
    source_path,
)

Image = npt.NDArray[np.uint8]
OUT_DIR = ROOT / "var" / "scenarios"


class SourceMissing(FileNotFoundError):
    pass


def _sign_image(window: int, width: int) -> Image:
    from edge.sign_cli import render_sign

    page = np.asarray(render_sign(window, dpi=60).convert("RGB"))[:, :, ::-1]
    height = round(page.shape[0] * width / page.shape[1])
    return np.asarray(cv2.resize(page, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def paste_sign(tile: Image, sign: SignOverlay, cache: dict[tuple[int, int], Image]) -> None:
    th, tw = tile.shape[:2]
    width = max(8, round(sign.width * tw))
    key = (sign.window, width)
    if key not in cache:
        cache[key] = _sign_image(sign.window, width)
    art = cache[key]
    h, w = art.shape[:2]
    x0, y1 = round(sign.x * tw - w / 2), round(sign.y * th)
    y0 = y1 - h
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(tw, x0 + w), min(th, y1)
    if xb <= xa or yb <= ya:
        return
    region = art[ya - y0 : yb - y0, xa - x0 : xb - x0].astype(np.float32)
    # Printed paper under the room's light: a touch darker than pure white, slightly soft.
    region = np.asarray(cv2.GaussianBlur(region * 0.9, (3, 3), 0), dtype=np.float32)
    tile[ya:yb, xa:xb] = np.clip(region, 0, 255).astype(np.uint8)


def _tile(frame: Image, seg: Segment, size: tuple[int, int], sign_cache: dict[tuple[int, int], Image]) -> Image:
    tile = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    if seg.sign is not None:
        paste_sign(tile, seg.sign, sign_cache)
    return tile


def sequence_frames(seg: Segment, fps: float, size: tuple[int, int], data: Path) -> Iterator[Image]:
    """A frame sequence's stepped replay: at each output time the latest still taken at or before it."""
    seq = FRAME_SOURCES[seg.source]
    stills = seq.stills(data)
    if not stills:
        raise SourceMissing(f"no stills of {seg.source} under {data / seq.images} (the data folder is --data or "
                            f"CW_SCENARIO_DATA; to get it: {seq.fetch})")
    sign_cache: dict[tuple[int, int], Image] = {}
    loaded: dict[Path, Image] = {}
    for _ in range(seg.repeat):
        for k in range(round((seg.end - seg.start) * fps)):
            t = seg.start + k / fps
            shown = [path for at, path in stills if at <= t + 1e-6]
            if not shown:
                raise SourceMissing(f"{seg.source} has no still at or before {t:.2f}s")
            if shown[-1] not in loaded:
                image = cv2.imread(str(shown[-1]))
                if image is None:
                    raise SourceMissing(f"unreadable still {shown[-1]}")
                loaded[shown[-1]] = np.asarray(image, dtype=np.uint8)
            yield _tile(loaded[shown[-1]], seg, size, sign_cache)


def segment_frames(seg: Segment, fps: float, size: tuple[int, int], shared: Path,
                   data: Path = DATA) -> Iterator[Image]:
    """The segment at ``fps``, ``repeat`` times, each frame the source frame nearest its media time."""
    if seg.source in FRAME_SOURCES:
        yield from sequence_frames(seg, fps, size, data)
        return
    path = source_path(seg.source, shared, data)
    if not path.exists():
        raise SourceMissing(f"source clip {path} is missing (the scenario footage lives in ../shared/datasets)")
    sign_cache: dict[tuple[int, int], Image] = {}
    n_out = round((seg.end - seg.start) * fps)
    for _ in range(seg.repeat):
        cap = cv2.VideoCapture(str(path))
        src_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        index, frame = -1, None
        try:
            for k in range(n_out):
                want = round((seg.start + k / fps) * src_fps)
                while index < want:
                    ok, img = cap.read()
                    if not ok:
                        break
                    index, frame = index + 1, img
                if frame is None:
                    raise SourceMissing(f"{path} has no frame at {seg.start + k / fps:.1f}s")
                yield _tile(np.asarray(frame, dtype=np.uint8), seg, size, sign_cache)
        finally:
            cap.release()


def covered(frame: Image, rng: np.random.Generator) -> Image:
    """A hand or cloth over the lens: almost black, a little light leaking in, sensor noise."""
    dim = cv2.GaussianBlur(frame, (0, 0), 15).astype(np.float32) * 0.05
    noise = rng.normal(0, 1.5, frame.shape).astype(np.float32)
    return np.clip(dim + 4 + noise, 0, 255).astype(np.uint8)


def frames(recipe: ClipRecipe, shared: Path = SHARED, data: Path = DATA) -> Iterator[Image]:
    cols, _ = recipe.grid
    tw, th = recipe.tile_size
    streams = [segments_of(t.segments, recipe.fps, (tw, th), shared, data) for t in recipe.tiles]
    rng = np.random.default_rng(0)
    frozen: Image | None = None
    for k, tiles in enumerate(zip(*streams, strict=True)):
        rows = [np.hstack(tiles[r * cols : (r + 1) * cols]) for r in range(len(tiles) // cols)]
        frame = np.vstack(rows)
        t = k / recipe.fps
        effect = next((e for e in recipe.effects if e.start <= t < e.end), None)
        if effect is None:
            frozen = None
        elif effect.kind == "cover":
            frame = covered(frame, rng)
        else:
            frozen = frame if frozen is None else frozen
            frame = frozen
        yield np.ascontiguousarray(frame)


def segments_of(segments: list[Segment], fps: float, size: tuple[int, int], shared: Path,
                data: Path = DATA) -> Iterator[Image]:
    for seg in segments:
        yield from segment_frames(seg, fps, size, shared, data)


def check_sources(recipe: ClipRecipe, shared: Path = SHARED, data: Path = DATA) -> None:
    """Every segment's footage is there, before anything is written (no half-rendered clip left behind)."""
    for seg in (s for tile in recipe.tiles for s in tile.segments):
        if seg.source in FRAME_SOURCES:
            seq = FRAME_SOURCES[seg.source]
            if not seq.stills(data):
                raise SourceMissing(f"no stills of {seg.source} under {data / seq.images} (the data folder is "
                                    f"--data or CW_SCENARIO_DATA; to get it: {seq.fetch})")
        elif not source_path(seg.source, shared, data).exists():
            raise SourceMissing(f"source clip {source_path(seg.source, shared, data)} is missing "
                                "(the scenario footage lives in ../shared/datasets)")


def write_clip(recipe: ClipRecipe, out: Path, shared: Path = SHARED, data: Path = DATA) -> int:
    check_sources(recipe, shared, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_suffix(".part.mp4")
    n = 0
    rate = Fraction(recipe.fps).limit_denominator(1000)
    with av.open(str(part), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = recipe.frame_size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(recipe.fps * 5))
        stream.options = {"crf": str(recipe.crf), "preset": "slow"}
        for image in frames(recipe, shared, data):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
            n += 1
        for packet in stream.encode():
            container.mux(packet)
    part.replace(out)
    return n


def recipe_hash(scenario: Scenario) -> str:
    return hashlib.sha256(scenario.clip.model_dump_json().encode()).hexdigest()[:16]


def clip_path(scenario: Scenario, out_dir: Path = OUT_DIR) -> Path:
    return out_dir / scenario.name / "clip.mp4"


def _current(path: Path, scenario: Scenario) -> bool:
    stamp = path.with_suffix(".recipe")
    return path.exists() and stamp.exists() and stamp.read_text().strip() == recipe_hash(scenario)


def ensure_clip(scenario: Scenario, out_dir: Path = OUT_DIR, shared: Path = SHARED, data: Path = DATA) -> Path:
    """The scenario's clip: the shipped one (demo) or one rendered before from the same recipe, else rendered."""
    shipped = DEMO_DIR / f"{scenario.name}.mp4"
    if _current(shipped, scenario):
        return shipped
    path = clip_path(scenario, out_dir)
    if not _current(path, scenario):
        write_clip(scenario.clip, path, shared, data)
        path.with_suffix(".recipe").write_text(recipe_hash(scenario) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rigs.scenarios build")
    parser.add_argument("names", nargs="*", help="scenario names (default: all in config/scenarios)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--file", type=Path, help="build this scenario file to exactly --out (a .mp4 path)")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the source footage (../shared/datasets)")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="footage fetched outside ../shared (default: $CW_SCENARIO_DATA or var/scenario-data)")
    args = parser.parse_args(argv)
    if args.file:
        scenario = load_scenario(args.file)
        n = write_clip(scenario.clip, args.out, args.shared, args.data)
        args.out.with_suffix(".recipe").write_text(recipe_hash(scenario) + "\n")  # the bench reuses it
        print(f"{scenario.name}: {n} frames, {args.out.stat().st_size / 1e6:.2f} MB -> {args.out}")
        return 0
    for path in scenario_files():
        scenario = load_scenario(path)
        if args.names and scenario.name not in args.names:
            continue
        try:
            clip = ensure_clip(scenario, args.out, args.shared, args.data)
        except SourceMissing as exc:
            print(f"{scenario.name}: skipped, {exc}")
            continue
        print(f"{scenario.name}: {scenario.clip.duration:.1f}s, {clip.stat().st_size / 1e6:.2f} MB -> {clip}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
