"""A small person-level sample rebuilt from ../shared alone, so CI can check the shipped behaviour stage
against its manifest (``behaviour.metrics["ci-sample"]``) without the data folders outside the repository.

It holds the first 60 suspisense-phone val images (grayscale; human phone-holding boxes -> phone_use) and
frames of two real colour clerk clips with no phone in anyone's hand: the open-office arrive-and-sit clip
after 28 s (a phone lies on the desk by the keyboard) and the nurse-station counter clip (clerk typing).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2

from models.behaviour_data import build_persons

SUSPISENSE_IMAGES = 60
CLIP_FRAMES: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    ("openoffice-topdown-istock", "openoffice_arrive_sit.mp4", (29.0, 30.0, 31.0, 32.0, 33.0)),
    ("nurse-station-istock", "nurse_station_counter.mp4", (2.0, 9.0, 17.0)),
)


def build_ci_sample(shared: Path, out: Path) -> Path:
    """Write the sample's source images (YOLO, one ``val`` split) and its person-level set; return the latter."""
    src = out / "source"
    for sub in ("images/val", "labels/val"):
        (src / sub).mkdir(parents=True, exist_ok=True)
    sus = shared / "datasets/suspisense-phone"
    for path in sorted((sus / "images/val").iterdir())[:SUSPISENSE_IMAGES]:
        link = src / "images/val" / path.name
        if not link.exists():
            os.symlink(path.resolve(), link)
        label = (sus / "labels/val" / f"{path.stem}.txt")
        lines = [ln for ln in (label.read_text().splitlines() if label.exists() else []) if ln.split()[:1] == ["3"]]
        (src / "labels/val" / f"{path.stem}.txt").write_text("".join(f"0{ln[1:]}\n" for ln in lines))
    for folder, name, times in CLIP_FRAMES:
        cap = cv2.VideoCapture(str(shared / "datasets" / folder / name))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        wanted = {round(t * fps): t for t in times}  # decoded in order: no seeking, same frames everywhere
        i = 0
        while wanted:
            ok, frame = cap.read()
            if not ok:
                raise ValueError(f"{name}: ended before {sorted(wanted.values())} s")
            if i in wanted:
                stem = f"{Path(name).stem}_t{wanted.pop(i):06.1f}"
                cv2.imwrite(str(src / "images/val" / f"{stem}.png"), frame)
                (src / "labels/val" / f"{stem}.txt").write_text("")
            i += 1
        cap.release()
    persons = out / "persons"
    build_persons("ci-sample", src, {0}, persons)
    return persons
