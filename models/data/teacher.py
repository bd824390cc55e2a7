"""Pseudo-labels from the COCO teacher for classes a source does not label, so that an unlabelled person
or cup is not taught as background."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.data.labels import Box, box_iou
from vision.detector import Detector
from vision.letterbox import Image
from vision.taxonomy import CLASS_ID


@dataclass(frozen=True)
class PseudoLabelPolicy:
    """Per-class confidence a teacher box needs to become a label. High on purpose: a missed pseudo-label
    only weakens a positive, a wrong one teaches a false positive."""

    conf: dict[str, float] = field(
        default_factory=lambda: {"person": 0.45, "drink": 0.35, "food": 0.35, "phone": 0.5}
    )
    # a teacher phone this close to a human-labelled phone is the same phone
    duplicate_iou: float = 0.2


def teacher_boxes(detector: Detector, image: Image, policy: PseudoLabelPolicy,
                  classes: set[str]) -> list[Box]:
    """The teacher's boxes through the edge's own call: COCO names merged onto the taxonomy (cup, bottle,
    wine glass -> drink) before NMS, as the edge would see them."""
    out: list[Box] = []
    for d in detector.detect(image, confidence=min(policy.conf.values()), iou=0.6):
        if d.label not in classes or d.score < policy.conf.get(d.label, 1.0):
            continue
        out.append(Box(CLASS_ID[d.label], *d.box))
    return out


def merge_pseudo(human: list[Box], pseudo: list[Box], policy: PseudoLabelPolicy) -> list[Box]:
    """Human labels win: a pseudo box is kept only where it duplicates no human box of its class."""
    merged = list(human)
    for p in pseudo:
        if not any(h.cls == p.cls and box_iou(h, p) > policy.duplicate_iou for h in human):
            merged.append(p)
    return merged
