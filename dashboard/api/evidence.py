"""Evidence: devices upload (PUT, per broker/evidence.py); people watch (GET, with HTTP Range for seeking).

Upload semantics (the contract): same id + same hash -> 200 (already stored) / 201 (stored now); same id
with a different hash -> 409, the first is kept; too large -> 413; wrong type, or a body that is not what its
type says (checked by its magic bytes) -> 415; hash mismatch -> 422. The body is streamed to a staging file
and abandoned the moment it passes the limit; nothing is stored unless the whole body arrived, its sha256
matches and it starts like a JPEG / an MP4.

Evidence ids are scoped per device: the key is (device, id), so another device's upload of the same id
neither blocks nor replaces the owner's. ``GET /evidence/{id}?device=...`` names the owner; without it
the id must be unambiguous (409 otherwise)."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.evidence import DEVICE_HEADER, MAX_BYTES, SHA256_HEADER
from broker.topics import TopicError, check_segment
from dashboard.api.common import SHA256_HEX, stream_body_to
from dashboard.auth.deps import ACK_ROLES, DbSession, client_ip, current_device, get_ctx, require_roles
from dashboard.db.audit import audit
from dashboard.db.models import AuditLog, Device, Evidence, User
from dashboard.storage.evidence import EvidenceStore, evidence_key

router = APIRouter(tags=["evidence"])
CHUNK = 64 * 1024


def _check_id(evidence_id: str) -> str:
    try:
        return check_segment(evidence_id, "evidence id")
    except TopicError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


def evidence_url(device_id: str, evidence_id: str) -> str:
    """The viewing URL of one device's evidence (pages link to it)."""
    return f"/api/v1/evidence/{quote(evidence_id, safe='')}?device={quote(device_id, safe='')}"


def looks_like(content_type: str, head: bytes) -> bool:
    """Whether the first bytes of a body are those of its declared type: an SVG or an HTML page sent as
    ``image/jpeg`` must never be stored and served as evidence."""
    if content_type == "image/jpeg":
        return head[:3] == b"\xff\xd8\xff"
    if content_type == "video/mp4":  # ISO BMFF: a box size, then the "ftyp" box type first
        return len(head) >= 12 and head[4:8] == b"ftyp"
    return False


def _head(path: Path, n: int = 16) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def _existing_answer(row: Evidence, sha256: str) -> Response:
    if row.sha256 == sha256:
        return Response(status_code=status.HTTP_200_OK, content='{"status": "already stored"}',
                        media_type="application/json")
    raise HTTPException(status.HTTP_409_CONFLICT,
                        f"evidence {row.id!r} is already stored with a different sha256; the first is kept")


@router.put(
    "/evidence/{evidence_id}", status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "already stored"}, 409: {}, 413: {}, 415: {}, 422: {}},
)
async def upload_evidence(
    evidence_id: str, request: Request, db: DbSession, device: Device = Depends(current_device)
) -> Response:
    _check_id(evidence_id)
    claimed = request.headers.get(DEVICE_HEADER)
    if claimed is not None and claimed != device.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"token belongs to {device.id!r}, not {claimed!r}")
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in MAX_BYTES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"content type {content_type or '(none)'!r} not accepted; use {', '.join(MAX_BYTES)}")
    sha256 = (request.headers.get(SHA256_HEADER) or "").strip().lower()
    if not SHA256_HEX.match(sha256):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{SHA256_HEADER} must be 64 hex digits")
    limit = MAX_BYTES[content_type]
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"{length} bytes is over the {limit}-byte limit")
    existing = db.get(Evidence, (device.id, evidence_id))
    if existing is not None:
        return _existing_answer(existing, sha256)

    store = get_ctx(request).evidence
    handle, staged = store.staging_file()
    try:
        with handle:
            body_sha256, size = await stream_body_to(handle, request, limit)
        if body_sha256 != sha256:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"sha256 of the body is {body_sha256}, header says {sha256}")
        if not looks_like(content_type, _head(staged)):
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                                f"the body is not {content_type} (its first bytes say otherwise)")
        key = evidence_key(device.id, evidence_id, content_type)
        row = Evidence(id=evidence_id, device_id=device.id, content_type=content_type, sha256=sha256, size=size,
                       storage_key=key)
        db.add(row)
        try:
            db.flush()  # a concurrent upload of the same id loses here, before touching the file
        except IntegrityError:
            db.rollback()
            winner = db.get(Evidence, (device.id, evidence_id))
            if winner is None:
                raise
            return _existing_answer(winner, sha256)
        await run_in_threadpool(store.commit, staged, key)  # an object-store PUT must not block the loop
        audit(db, f"device:{device.id}", "upload", "evidence", evidence_id,
              {"size": size, "content_type": content_type}, ip=client_ip(request))
    except OSError as exc:
        # Disk full or store unavailable: nothing is kept (row rolled back, staged file removed) and the
        # device, which does not treat 503/507 as final, retries later.
        db.rollback()
        full = exc.errno == errno.ENOSPC
        raise HTTPException(status.HTTP_507_INSUFFICIENT_STORAGE if full else status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"evidence store {'full' if full else 'unavailable'}: {exc.strerror}") from exc
    finally:
        staged.unlink(missing_ok=True)
    return Response(status_code=status.HTTP_201_CREATED, content='{"status": "stored"}',
                    media_type="application/json")


def _find(db: Session, evidence_id: str, device: str | None) -> Evidence | None:
    if device is not None:
        return db.get(Evidence, (device, evidence_id))
    rows = list(db.scalars(select(Evidence).where(Evidence.id == evidence_id).limit(2)))
    if len(rows) > 1:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"evidence id {evidence_id!r} exists for several devices: add ?device=")
    return rows[0] if rows else None


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# One viewing = the requests of one user for one clip within this window (a player fetches many ranges).
VIEW_AUDIT_WINDOW = timedelta(minutes=5)


def _view_recently_audited(db: Session, user: User, evidence_id: str) -> bool:
    since = datetime.now(UTC) - VIEW_AUDIT_WINDOW
    return db.scalar(select(AuditLog.id).where(
        AuditLog.at >= since, AuditLog.entity == "evidence", AuditLog.entity_id == evidence_id,
        AuditLog.action == "view", AuditLog.user_id == user.id).limit(1)) is not None


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` range -> inclusive (start, end); None when unsatisfiable."""
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix: the last N bytes
        n = int(m.group(2))
        return (max(0, size - n), size - 1) if n > 0 and size > 0 else None
    start = int(m.group(1))
    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    return (start, end) if start <= end and start < size else None


def _stream(store: EvidenceStore, key: str, start: int, end: int) -> Iterator[bytes]:
    with store.open(key) as fh:
        fh.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = fh.read(min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


@router.get("/evidence/{evidence_id}", response_class=StreamingResponse,
            responses={206: {"description": "partial content (Range)"}, 416: {}})
def get_evidence(
    evidence_id: str, request: Request, db: DbSession, user: User = Depends(require_roles(*ACK_ROLES)),
    device: str | None = Query(None, max_length=64, description="the device that uploaded it"),
) -> Response:
    """Stream a snapshot or clip; honours a single ``Range: bytes=a-b`` (206) so players can seek.
    Every access is audited: a request writes a ``view`` entry unless the same user's view of the same
    evidence was recorded in the last few minutes (a player's seeks and range continuations)."""
    row = _find(db, _check_id(evidence_id), device)
    if row is not None and row.purged_at is not None:
        raise HTTPException(status.HTTP_410_GONE,
                            f"evidence {evidence_id!r} was deleted on {row.purged_at:%Y-%m-%d} under the "
                            "retention policy; the event record is kept")
    store = get_ctx(request).evidence
    if row is None or not store.exists(row.storage_key):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"evidence {evidence_id!r} not found")
    size = store.size(row.storage_key)
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{row.sha256}"', "Cache-Control": "private, max-age=3600"}
    range_header = request.headers.get("range")
    start, end, code = 0, size - 1, status.HTTP_200_OK
    if range_header:
        parsed = _parse_range(range_header, size)
        if parsed is None:
            raise HTTPException(status.HTTP_416_RANGE_NOT_SATISFIABLE, "range not satisfiable",
                                headers={"Content-Range": f"bytes */{size}"})
        (start, end), code = parsed, status.HTTP_206_PARTIAL_CONTENT
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if not _view_recently_audited(db, user, evidence_id):
        audit(db, user, "view", "evidence", evidence_id, {"range": range_header}, ip=client_ip(request))
    headers["Content-Length"] = str(end - start + 1 if size else 0)
    return StreamingResponse(_stream(store, row.storage_key, start, end), status_code=code,
                             media_type=row.content_type, headers=headers)
