"""A static frame enters the pre-roll ring as the previous frame's JPEG again: no encode, no copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge.evidence.recorder import EvidenceRecorder


def test_repeat_frame_reuses_the_last_jpeg(tmp_path: Path) -> None:
    recorder = EvidenceRecorder("cam", tmp_path, fps=5, pre_roll_s=1, post_roll_s=1, on_ready=lambda ready: None)
    try:
        t0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
        with pytest.raises(RuntimeError):
            recorder.repeat_frame(t0)
        assert not recorder.has_frames
        recorder.add_frame(np.full((90, 160, 3), 128, np.uint8), t0)
        for n in range(1, 10):
            recorder.repeat_frame(t0 + n * timedelta(seconds=0.2))
        ring = list(recorder._ring)
        assert len(ring) == 6  # bounded: 1 s at 5 fps + 1
        assert all(data is ring[0][1] for _, data in ring)  # one JPEG, referenced six times
        assert [t for t, _ in ring] == [t0 + n * timedelta(seconds=0.2) for n in range(4, 10)]
    finally:
        recorder.close()
