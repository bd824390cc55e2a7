"""Frames of the real clerk clips in ../shared as a person-level *negative* set (no phone, food or drink in
anyone's hands, per each clip's DATASET.md timeline), written outside the repository:

    python -m models.data.clip_frames --shared ../shared --out /work/data/clerk-clips

Split by clip, so no clip is on both sides. ``val`` holds the two top-down open-office clips, whose
arrive-and-sit clip has a phone lying on the desk next to the keyboard from 28 s (the "phone on the desk is
not phone use" case), and the office-CCTV clip. The reception clip is left out: its far receptionist may hold
a handset to her ear (the card is unsure), so it cannot be a clean negative.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2

# (dataset folder, file, split)
CLIPS: tuple[tuple[str, str, str], ...] = (
    ("office-cctv-nix-4desks", "office_cctv_nix.mp4", "train"),
    ("nurse-station-istock", "nurse_station_counter.mp4", "train"),
    ("classroom-cctv-topdown", "classroom_cctv_2019-12-02.mp4", "train"),
    ("openoffice-topdown-istock", "openoffice_arrive_sit.mp4", "val"),
    ("openoffice-topdown-istock", "openoffice_seated_bg_leave.mp4", "val"),
    ("office-cctv-clip", "office_cctv_cam5.mov", "val"),
)


def extract(shared: Path, out: Path, every_s: float = 1.0) -> dict[str, int]:
    counts: dict[str, int] = {}
    for folder, name, split in CLIPS:
        cap = cv2.VideoCapture(str(shared / "datasets" / folder / name))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        step, i, kept = max(1, round(fps * every_s)), 0, 0
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % step == 0:
                stem = f"{Path(name).stem}_t{i / fps:06.1f}"
                cv2.imwrite(str(out / "images" / split / f"{stem}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
                (out / "labels" / split / f"{stem}.txt").write_text("")
                kept += 1
            i += 1
        cap.release()
        counts[f"{split}/{name}"] = kept
    (out / "SOURCE.json").write_text(json.dumps({"clips": [list(c) for c in CLIPS], "every_s": every_s,
                                                 "counts": counts}, indent=2))
    return counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--every-s", type=float, default=1.0)
    a = p.parse_args()
    print(json.dumps(extract(a.shared, a.out, a.every_s), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
