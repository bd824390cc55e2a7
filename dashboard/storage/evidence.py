"""Evidence storage behind a small interface; the default keeps files on the local filesystem.

Keys are built from contract ids (``{device}/{evidence_id}.{ext}``) checked against the topic alphabet,
and every resolved path is checked to stay inside the root, so no id can walk out of it."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}(/[A-Za-z0-9_.-]{1,64})*$")
EXTENSIONS = {"image/jpeg": "jpg", "video/mp4": "mp4"}


class UnsafeKey(ValueError):
    pass


class StoreUnavailable(OSError):
    """The store (an object store, a network volume) could not be reached or refused the request."""

    def __init__(self, action: str, exc: Exception) -> None:
        super().__init__(errno.EIO, f"evidence store {action} failed: {exc}")


def evidence_key(device_id: str, evidence_id: str, content_type: str) -> str:
    key = f"{device_id}/{evidence_id}.{EXTENSIONS[content_type]}"
    check_key(key)
    return key


def check_key(key: str) -> str:
    if not _KEY.match(key) or any(part in ("", ".", "..") for part in key.split("/")):
        raise UnsafeKey(f"unsafe storage key {key!r}")
    return key


class EvidenceStore(Protocol):
    def staging_file(self) -> tuple[BinaryIO, Path]:
        """A new temporary file on the same volume (so :meth:`commit` is an atomic rename)."""
        ...

    def commit(self, staged: Path, key: str) -> None:
        """Move a fully written and verified staging file to ``key`` (replacing nothing half-written)."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...


class LocalEvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._staging = self.root / ".staging"
        # Clips of identifiable clerks: owner-only directories (mkstemp already makes the files 0600).
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._staging.mkdir(exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if self.root not in path.parents:
            raise UnsafeKey(f"storage key {key!r} leaves the evidence root")
        return path

    def staging_file(self) -> tuple[BinaryIO, Path]:
        fd, name = tempfile.mkstemp(dir=self._staging, suffix=".part")
        return os.fdopen(fd, "w+b"), Path(name)

    def commit(self, staged: Path, key: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(staged, target)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
