"""Evidence in an S3-compatible object store (MinIO, Ceph RGW, a cloud bucket): the scale-out store.

Uploads are staged on local disk first, exactly as with the local store, so the size and sha256 checks of
the upload contract run before anything reaches the bucket; :meth:`S3EvidenceStore.commit` then puts the
verified file in one go (multipart above ``multipart_threshold``). S3 writes are atomic per object, so a
failed or interrupted upload leaves no object behind. Reads are ranged GETs, so a player seeking in a clip
fetches only what it shows.

Every failure of the store surfaces as :class:`StoreUnavailable` (an ``OSError``): the upload route turns it
into 503, which devices treat as "retry later", and nothing half-written is recorded."""

from __future__ import annotations

import errno
import io
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dashboard.settings import S3Settings
from dashboard.storage.evidence import StoreUnavailable, check_key

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class S3EvidenceStore:
    def __init__(self, settings: S3Settings, staging_dir: Path, *, client: Any | None = None) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._staging = staging_dir
        self._staging.mkdir(parents=True, exist_ok=True)
        secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
        self.client = client or boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=secret,
            config=Config(
                s3={"addressing_style": "path" if settings.path_style else "auto"},
                connect_timeout=settings.timeout_s,
                read_timeout=settings.timeout_s,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        self._transfer = TransferConfig(multipart_threshold=settings.multipart_threshold_mb * 1024 * 1024)
        if settings.create_bucket:
            self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _NOT_FOUND:
                raise StoreUnavailable("head_bucket", exc) from exc
            self.client.create_bucket(Bucket=self.bucket)
        except BotoCoreError as exc:
            raise StoreUnavailable("head_bucket", exc) from exc

    def _object(self, key: str) -> str:
        return self.settings.prefix + check_key(key)

    # -- EvidenceStore -----------------------------------------------------------------------------
    def staging_file(self) -> tuple[BinaryIO, Path]:
        fd, name = tempfile.mkstemp(dir=self._staging, suffix=".part")
        return os.fdopen(fd, "w+b"), Path(name)

    def commit(self, staged: Path, key: str) -> None:
        try:
            self.client.upload_file(str(staged), self.bucket, self._object(key), Config=self._transfer)
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable("upload", exc) from exc
        staged.unlink(missing_ok=True)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self._object(key))
            return head
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise StoreUnavailable("head", exc) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable("head", exc) from exc

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(errno.ENOENT, "no such evidence object", key)
        return int(head["ContentLength"])

    def open(self, key: str) -> BinaryIO:
        return io.BufferedReader(_RangedObject(self, self._object(key), self.size(key)), buffer_size=256 * 1024)

    def delete(self, key: str) -> None:
        try:  # S3 DELETE is idempotent: a missing object is not an error
            self.client.delete_object(Bucket=self.bucket, Key=self._object(key))
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable("delete", exc) from exc


class _RangedObject(io.RawIOBase):
    """A seekable read-only view of one object: each read is a ranged GET."""

    def __init__(self, store: S3EvidenceStore, name: str, size: int) -> None:
        self._store, self._name, self._size, self._pos = store, name, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        try:
            body = self._store.client.get_object(
                Bucket=self._store.bucket, Key=self._name, Range=f"bytes={self._pos}-{self._pos + want - 1}"
            )["Body"]
            data = body.read()
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable("get", exc) from exc
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)
