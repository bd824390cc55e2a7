"""Extract two whole-image action sets from fetched git snapshots into class folders outside the repository.

    python -m models.data.action_photos stanford40 --git /work/.mirror/guminyu94+CSCE-Project/repo \
        --out /work/data/behave/stanford40-actions
    python -m models.data.action_photos statefarm \
        --git /work/.mirror/MattHazard+State-Farm-Distracted-Driver-Detection/repo \
        --out /work/data/behave/statefarm-drivers

Both write ``<out>/<split>/<class>/<image>.jpg`` (split ``train`` / ``val``) and ``SOURCE.json`` with the
commit and counts; nothing is copied into this repository (cards: models/datasets/stanford40-actions.md,
models/datasets/statefarm-drivers.md). One photo, one label: :func:`models.behaviour_data.build_photos`
turns them into person-level sets.

* ``stanford40``: github.com/guminyu94/CSCE-Project ``Action_data_set`` - Stanford 40 Actions photos (cut to
  the person) plus a ``sleeping`` class, in the author's train / val / test folders. Identical files are
  kept once (the first of train, val, test: 50 sleeping photos are in both train and val); ``val`` here is
  the author's val + test, so no photo is on both sides.
* ``statefarm``: github.com/MattHazard/State-Farm-Distracted-Driver-Detection ``train/c0..c9`` - the State
  Farm distracted-driver photos, shrunk to 80x60 by that author (a seated person seen side-on by a fixed
  camera, about a distant CCTV clerk's size). Split **by driver** (``driver_imgs_list.csv``): val = drivers
  whose md5 bucket is under :data:`VAL_PERCENT`. A fixed sample of ``--per-class`` photos per driver and
  class (the drivers' frames are near-duplicates of each other); names ``sf-<driver>_f<img number>_<class>``
  so the trainer groups a driver's photos together.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

from models.data.split import hash_bucket

STANFORD40 = {"source": "https://github.com/guminyu94/CSCE-Project",
              "commit": "88ea96de6d9292cef94ad3a1aa0f920d5acadbfa",
              "licence": "Stanford 40 Actions: research use only; the repository states none"}
STATEFARM = {"source": "https://github.com/MattHazard/State-Farm-Distracted-Driver-Detection",
             "commit": "b9f85cac612de27ab04775d9d6a4bd02904fdeef",
             "licence": "State Farm Distracted Driver Detection (Kaggle competition rules: non-commercial); the "
                        "repository states none"}
STATEFARM_CLASSES = {"c0": "safe_driving", "c1": "texting_right", "c2": "phone_right", "c3": "texting_left",
                     "c4": "phone_left", "c5": "operating_radio", "c6": "drinking", "c7": "reaching_behind",
                     "c8": "hair_and_makeup", "c9": "talking_to_passenger"}
VAL_PERCENT = 25


class _Blobs:
    """``git cat-file --batch`` over one snapshot: thousands of files without a process each."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self._proc = subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def tree(self, commit: str, path: str) -> list[tuple[str, str]]:
        """(blob id, path) of every file under ``path``."""
        out = subprocess.run(["git", "--git-dir", str(self.git_dir), "ls-tree", "-r", commit, path],
                             check=True, capture_output=True, text=True).stdout
        return [(meta.split()[2], name) for meta, name in (line.split("\t", 1) for line in out.splitlines())]

    def read(self, ref: str) -> bytes:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(ref.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().split()
        if len(header) != 3:
            raise ValueError(f"{self.git_dir}: no object {ref!r} ({header!r})")
        data = self._proc.stdout.read(int(header[2]))
        self._proc.stdout.read(1)  # the newline after each object
        return data

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait()


def _write(out: Path, split: str, cls: str, name: str, data: bytes) -> None:
    dest = out / split / cls / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)


def _summary(out: Path, meta: dict[str, str], counts: Counter[str], **extra: object) -> dict[str, object]:
    summary: dict[str, object] = {**meta, **extra, "counts": dict(sorted(counts.items()))}
    (out / "SOURCE.json").write_text(json.dumps(summary, indent=2))
    return summary


def extract_stanford40(git_dir: Path, out: Path, commit: str = STANFORD40["commit"]) -> dict[str, object]:
    blobs = _Blobs(git_dir)
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    entries = blobs.tree(commit, "Action_data_set")
    order = {"train": 0, "val": 1, "test": 2}
    entries.sort(key=lambda e: (order.get(e[1].split("/")[1], 3), e[1]))
    for blob, name in entries:
        _, author_split, cls, file = name.split("/")
        if blob in seen:
            counts[f"duplicate_dropped_{author_split}_{cls}"] += 1
            continue
        seen.add(blob)
        split = "train" if author_split == "train" else "val"
        _write(out, split, cls, f"s40-{cls}-{author_split}-{Path(file).stem}.jpg", blobs.read(blob))
        counts[f"{split}_{cls}"] += 1
    blobs.close()
    return _summary(out, {**STANFORD40, "commit": commit}, counts,
                    split="train = the author's train; val = the author's val + test")


def driver_split(driver: str) -> str:
    return "val" if hash_bucket(driver) < VAL_PERCENT else "train"


def extract_statefarm(git_dir: Path, out: Path, per_class: int, commit: str = STATEFARM["commit"]
                      ) -> dict[str, object]:
    blobs = _Blobs(git_dir)
    rows = list(csv.DictReader(io.StringIO(blobs.read(f"{commit}:driver_imgs_list.csv").decode())))
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        groups[(row["subject"], row["classname"])].append(row["img"])
    counts: Counter[str] = Counter()
    for (driver, cls), images in sorted(groups.items()):
        # a fixed, spread sample: the photos of one driver and class are a burst of near-identical frames
        chosen = sorted(images, key=lambda img: hashlib.md5(img.encode()).hexdigest())[:per_class]
        split = driver_split(driver)
        for img in chosen:
            number = int(Path(img).stem.split("_")[1])
            _write(out, split, STATEFARM_CLASSES[cls], f"sf-{driver}_f{number:06d}_{cls}.jpg",
                   blobs.read(f"{commit}:train/{cls}/{img}"))
            counts[f"{split}_{STATEFARM_CLASSES[cls]}"] += 1
    blobs.close()
    drivers = sorted({d for d, _ in groups})
    return _summary(out, {**STATEFARM, "commit": commit}, counts, per_class=per_class,
                    val_drivers=[d for d in drivers if driver_split(d) == "val"],
                    train_drivers=[d for d in drivers if driver_split(d) == "train"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="set", required=True)
    for name in ("stanford40", "statefarm"):
        s = sub.add_parser(name)
        s.add_argument("--git", type=Path, required=True, help="the fetched snapshot's git directory")
        s.add_argument("--out", type=Path, required=True, help="data folder outside the repository")
        if name == "statefarm":
            s.add_argument("--per-class", type=int, default=12, help="photos per driver and class")
    a = p.parse_args()
    summary = (extract_stanford40(a.git, a.out) if a.set == "stanford40"
               else extract_statefarm(a.git, a.out, a.per_class))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
