"""Extract the held-phone frames of github.com/bwssytems/phone-usage-computer-vision into a data folder.

    python -m models.data.phone_bwssytems --git /work/.mirror/bwssytems+phone-usage-computer-vision/repo \
        --out /work/data/phone-usage-bwssytems

The source is a git snapshot (``fetch github:bwssytems/phone-usage-computer-vision``); nothing is copied into
this repository (card: models/datasets/phone-usage-bwssytems.md). Its YOLO set labels one class, a phone
*held* (in hand, on the lap, at the face), in frames of 15 videos: four store-counter CCTV clips and eleven
stock clips. The author's ``_rot*`` copies are rotated by 15-90 degrees (not a camera's view) and are dropped;
``_aug`` copies (colour jitter of an original) are kept in train only. The split is by video, so no video
has frames on both sides: ``val`` = videos whose md5(video id) mod 100 < 30, plus the author's own val/test
originals of those videos.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

from models.data.split import hash_bucket

COMMIT = "d7e34baa0cfd4a5ef317be379dd65f307c35ef4d"
SOURCE = "https://github.com/bwssytems/phone-usage-computer-vision"
_FRAME = re.compile(r"^(?P<video>.+?)_f(?P<frame>\d{6})(?P<kind>_aug|_rot\d+)?$")
VAL_PERCENT = 30


def video_split(video: str) -> str:
    return "val" if hash_bucket(video) < VAL_PERCENT else "train"


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True).stdout


def extract(git_dir: Path, out: Path, commit: str = COMMIT) -> dict[str, object]:
    names = _git(git_dir, "ls-tree", "-r", "--name-only", commit, "yolo_dataset/images").decode().split()
    counts: Counter[str] = Counter()
    for name in sorted(names):
        stem = Path(name).stem
        m = _FRAME.match(stem)
        if m is None or (m.group("kind") or "").startswith("_rot"):
            counts["dropped_rotated_or_unparsed"] += 1
            continue
        split = video_split(m.group("video"))
        if split == "val" and m.group("kind") == "_aug":
            counts["dropped_aug_in_val"] += 1
            continue
        label = name.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt"
        for sub, src, suffix in (("images", name, Path(name).suffix), ("labels", label, ".txt")):
            dest = out / sub / split / f"{stem}{suffix}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(_git(git_dir, "show", f"{commit}:{src}"))
        counts[f"{split}_images"] += 1
        counts[f"{split}_phones"] += sum(1 for line in (out / "labels" / split / f"{stem}.txt").read_text().splitlines()
                                         if line.strip())
    summary: dict[str, object] = {"source": SOURCE, "commit": commit, "licence": "GPL-3.0 (repository LICENSE)",
               "class_names": {"0": "phone_held"}, "counts": dict(sorted(counts.items()))}
    (out / "SOURCE.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--git", type=Path, required=True, help="the fetched snapshot's git directory")
    p.add_argument("--out", type=Path, required=True, help="data folder outside the repository")
    p.add_argument("--commit", default=COMMIT)
    a = p.parse_args()
    print(json.dumps(extract(a.git, a.out, a.commit), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
