"""The edge node's allocator policy and per-camera decoder threads (edge/memory.py, edge/sources.py)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge.memory import tune_allocator
from edge.settings import CameraConfig
from edge.sources import open_capture


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_allocator_policy_takes_effect_on_glibc() -> None:
    assert tune_allocator() is True


# Many small blocks freed with every hundredth still held: the freed pages sit inside the heap, where
# glibc's own trimming of the heap's top never reaches them; only malloc_trim hands them back.
_FRAGMENTED_HEAP = """
import sys
from edge.memory import release_free_memory
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
blocks = [bytearray(4000) for _ in range(40_000)]
kept = blocks[::100]
del blocks
before = rss()
released = release_free_memory()
print(released, round(before - rss()))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_free_heap_pages_go_back_to_the_kernel_after_a_burst() -> None:
    out = subprocess.run([sys.executable, "-c", _FRAGMENTED_HEAP], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    released, mb = out.stdout.split()
    assert released == "True" and int(mb) >= 100, out.stdout  # of the ~160 MB freed


@pytest.mark.parametrize("threads", [1, 2])
def test_a_file_camera_decodes_on_the_threads_it_is_given(office_clip: Path, threads: int) -> None:
    cap = open_capture(str(office_clip), threads)
    try:
        assert cap.isOpened()
        assert cap.get(cv2.CAP_PROP_N_THREADS) == threads
        ok, frame = cap.read()
        assert ok and frame.shape[2] == 3
    finally:
        cap.release()


def test_one_decoder_thread_is_the_default_and_bounded() -> None:
    window = {"id": "w01", "zones": {"staff": [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    assert CameraConfig(id="c1", source="x.mp4", windows=[window]).decoder_threads == 1
    with pytest.raises(ValueError, match="decoder_threads"):
        CameraConfig(id="c1", source="x.mp4", windows=[window], decoder_threads=-1)
