"""Leak-free split assignment. Everything derived from one source photo (its augmentations, composites
pasted onto it, pseudo-labels) lands in the split of that photo's stem."""

from __future__ import annotations

import hashlib
import re

# suspisense keeps one copy per Roboflow stem: "<stem>_jpg.rf.<hash>.jpg" -> "<stem>"
_ROBOFLOW = re.compile(r"^(?P<stem>.+?)_(?:jpg|jpeg|png)\.rf\.[0-9a-f]+$", re.IGNORECASE)


def source_stem(file_stem: str) -> str:
    m = _ROBOFLOW.match(file_stem)
    return m.group("stem") if m else file_stem


def hash_bucket(key: str, buckets: int = 100) -> int:
    return int(hashlib.md5(key.encode()).hexdigest(), 16) % buckets


def split_of(key: str, val_percent: int = 15) -> str:
    """Deterministic train/val split of a source key (the same rule the suspisense card documents)."""
    return "val" if hash_bucket(key) < val_percent else "train"
