"""Clerk behaviours: slippers, eating, phone use, dozing. Each is a per-frame score per clerk, voted K-of-N
per window before it reaches the rules (which then add the long hold time: 10 s, 10 s, 30 s, 120 s).

With the shipped second stage (edge/clerk_stage.py) a behaviour it has a column for is decided per clerk
from the clerk's crop (:func:`stage_score`): a phone lying on the desk inside the clerk's box is not phone
use. Without it (no stage shipped, or a detector it was not calibrated on) the v1 geometric associations
remain: an object counts for a clerk when its centre lies in the clerk's (slightly enlarged) person box;
"near the head" is the top third of that box. Footwear counts when it stands in the window's floor zone.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge.clerk_stage import ClerkVerdict
from edge.detect import Detection
from edge.rules.engine import BehaviourReading
from edge.zones import Zone


@dataclass
class Vote:
    """K positive frames among the last N; confidence is the mean score of the positive frames."""

    k: int
    n: int
    _frames: deque[tuple[float, str | None]] = field(default_factory=deque)

    def update(self, score: float, subtype: str | None = None) -> BehaviourReading:
        self._frames.append((score, subtype))
        while len(self._frames) > self.n:
            self._frames.popleft()
        positives = [(s, t) for s, t in self._frames if s > 0]
        if len(positives) < self.k:
            return BehaviourReading(False, 0.0, None)
        subtypes = Counter(t for _, t in positives if t)
        return BehaviourReading(
            True, sum(s for s, _ in positives) / len(positives),
            subtypes.most_common(1)[0][0] if subtypes else None,
        )

    def reset(self) -> None:
        self._frames.clear()


def _centre(d: Detection) -> tuple[float, float]:
    return (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2


def _inside(point: tuple[float, float], box: tuple[float, float, float, float], grow: float = 0.1) -> bool:
    x1, y1, x2, y2 = box
    gx, gy = (x2 - x1) * grow, (y2 - y1) * grow
    return x1 - gx <= point[0] <= x2 + gx and y1 - gy <= point[1] <= y2 + gy


def phone_score(clerks: Sequence[Detection], phones: Sequence[Detection]) -> tuple[float, str | None]:
    """Best phone held by a clerk: ("call" when near the head, else "browse")."""
    best, subtype = 0.0, None
    for clerk in clerks:
        head_limit = clerk.box[1] + (clerk.box[3] - clerk.box[1]) / 3
        for phone in phones:
            c = _centre(phone)
            if _inside(c, clerk.box) and phone.score > best:
                best, subtype = phone.score, "call" if c[1] <= head_limit else "browse"
    return best, subtype


def eating_score(clerks: Sequence[Detection], food: Sequence[Detection]) -> float:
    """Food in the upper two thirds of a clerk's box (in hand or at the mouth, not lying on the desk)."""
    best = 0.0
    for clerk in clerks:
        upper = (clerk.box[0], clerk.box[1], clerk.box[2], clerk.box[1] + (clerk.box[3] - clerk.box[1]) * 2 / 3)
        for item in food:
            if _inside(_centre(item), upper, grow=0.05):
                best = max(best, item.score)
    return best


def slippers_score(footwear: Sequence[Detection], floor: Zone | None) -> float:
    if floor is None:
        return 0.0
    return max((d.score for d in footwear
                if d.label == "slipper" and floor.contains((d.box[0] + d.box[2]) / 2, d.box[3])), default=0.0)


def stage_score(verdicts: Sequence[ClerkVerdict], behaviour: str) -> tuple[float, str | None]:
    """The most confident clerk verdict for ``behaviour`` this frame (0 when no clerk has it)."""
    best, subtype = 0.0, None
    for v in verdicts:
        if v.label == behaviour and v.confidence > best:
            best, subtype = v.confidence, v.subtype
    return best, subtype
