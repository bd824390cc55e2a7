"""One-label action photos: extraction from a git snapshot (each photo once, val never shares a photo with
train, State Farm split by driver) and the person-level set built from them with the real detector."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.behaviour import BEHAVIOURS
from models.behaviour_data import PHOTO_SETS, build_photos
from models.data.action_photos import driver_split, extract_stanford40, extract_statefarm
from models.data.labels import read_yolo


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def _first_frame(clip: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(clip))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


def _snapshot(root: Path, files: dict[str, bytes]) -> tuple[Path, str]:
    """A git repository holding ``files``: (its git dir, the commit)."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    run = {"cwd": root, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)  # type: ignore[call-overload]
    subprocess.run(["git", "add", "."], **run)  # type: ignore[call-overload]
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], **run)  # type: ignore[call-overload]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], **run, text=True).stdout.strip()  # type: ignore[call-overload]
    return root / ".git", commit


def test_stanford40_keeps_a_photo_once_and_val_is_the_authors_val_and_test(tmp_path: Path, office_clip: Path
                                                                           ) -> None:
    frame = _first_frame(office_clip)
    a, b, c = _jpeg(frame), _jpeg(frame[:, ::-1]), _jpeg(frame[::-1])
    git, commit = _snapshot(tmp_path / "repo", {
        "Action_data_set/train/sleeping/0.jpg": a,
        "Action_data_set/val/sleeping/7.jpg": a,  # the same photo in the author's val: train keeps it
        "Action_data_set/val/phoning/1.jpg": b,
        "Action_data_set/test/drinking/2.jpg": c,
        "readme.txt": b"not a photo",
    })
    summary = extract_stanford40(git, tmp_path / "out", commit)
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == [
        "train/sleeping/s40-sleeping-train-0.jpg", "val/drinking/s40-drinking-test-2.jpg",
        "val/phoning/s40-phoning-val-1.jpg"]
    assert summary["counts"] == {"duplicate_dropped_val_sleeping": 1, "train_sleeping": 1, "val_drinking": 1,
                                 "val_phoning": 1}
    assert (out / "val/phoning/s40-phoning-val-1.jpg").read_bytes() == b
    assert json.loads((out / "SOURCE.json").read_text())["commit"] == commit


def test_statefarm_is_split_by_driver_and_named_for_grouping(tmp_path: Path, office_clip: Path) -> None:
    small = cv2.resize(_first_frame(office_clip), (80, 60))
    drivers = ["p002", "p026"]  # one train and one val driver (md5 buckets)
    assert {driver_split(d) for d in drivers} == {"train", "val"}
    rows, files = ["subject,classname,img"], {}
    for d, driver in enumerate(drivers):
        for i in range(3):
            img = f"img_{100 * d + i}.jpg"
            rows.append(f"{driver},c2,{img}")
            files[f"train/c2/{img}"] = _jpeg(np.roll(small, i, axis=1))
    files["driver_imgs_list.csv"] = ("\n".join(rows) + "\n").encode()
    git, commit = _snapshot(tmp_path / "repo", files)
    summary = extract_statefarm(git, tmp_path / "out", per_class=2, commit=commit)
    out = tmp_path / "out"
    for driver in drivers:
        names = sorted(p.name for p in (out / driver_split(driver) / "phone_right").glob(f"sf-{driver}_*"))
        assert len(names) == 2  # the per-class cap
        assert all(n.startswith(f"sf-{driver}_f0") and n.endswith("_c2.jpg") for n in names)
    assert summary["val_drivers"] == ["p026"] and summary["train_drivers"] == ["p002"]


@pytest.mark.parametrize("cls, behaviour", [("phoning", "phone_use"), ("sleeping", "dozing"),
                                            ("drinking", "drinking"), ("smoking", "none")])
def test_stanford40_classes_map_onto_behaviours(cls: str, behaviour: str) -> None:
    assert PHOTO_SETS["stanford40-actions"].get(cls, "none") == behaviour


def test_the_photo_label_goes_to_its_largest_person_and_a_photo_with_nobody_is_a_missed_person(
        tmp_path: Path, shared_dir: Path) -> None:
    # a real nurse-station counter: three people the detector finds at the edge's threshold
    frame = _first_frame(shared_dir / "datasets/nurse-station-istock/nurse_station_counter.mp4")
    root = tmp_path / "photos"
    (root / "train/phoning").mkdir(parents=True)
    (root / "train/reading").mkdir(parents=True)
    cv2.imwrite(str(root / "train/phoning/clerks.jpg"), frame)
    cv2.imwrite(str(root / "train/reading/empty.jpg"), np.full((120, 160, 3), 114, np.uint8))
    summary = build_photos("stanford40-actions", root, PHOTO_SETS["stanford40-actions"], tmp_path / "set")
    counts = summary["counts"]
    assert isinstance(counts, dict)
    assert counts["train_phone_use"] == 1 and counts["train_none"] == 1
    assert counts["train_no_person_detected"] == 1 and counts["train_other_persons"] >= 1
    h, w = frame.shape[:2]
    (subject,) = read_yolo(tmp_path / "set/labels/train/clerks.txt", w, h)
    assert BEHAVIOURS[subject.cls] == "phone_use"
    assert subject.area < 0.5 * w * h  # a detected clerk, not the whole frame
    (nobody,) = read_yolo(tmp_path / "set/labels/train/empty.txt", 160, 120)
    assert BEHAVIOURS[nobody.cls] == "none" and nobody.area == pytest.approx(160 * 120, rel=1e-3)
    assert (tmp_path / "set/images/train/clerks.jpg").resolve() == (root / "train/phoning/clerks.jpg").resolve()
