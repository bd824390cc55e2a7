"""/api/v1/users, /audit, /dead-letters, /ingest, /models (versions, model files and rollout).

A model file can be uploaded to the dashboard (``PUT /models/{version}/file``): it is kept in the evidence
store under its sha256 and devices fetch it with their upload token from ``GET /models/{version}/file``,
the (relative) URL the rollout command then carries. A version registered with an outside URL is
fetched from there instead."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, Field
from sqlalchemy import func, select

from broker.codec import encode
from broker.evidence import SHA256_HEADER
from broker.payloads import ModelRollout
from broker.topics import model_command_topic
from dashboard.api.common import SHA256_HEX, IdPath, KeyPath, LimitQ, OffsetQ, get_or_404, paginate, stream_body_to
from dashboard.api.schemas import (
    AuditOut,
    DeadLetterOut,
    ModelVersionIn,
    ModelVersionOut,
    Page,
    RolloutIn,
    RolloutOut,
    UserIn,
    UserOut,
    UserPatch,
)
from dashboard.auth.deps import (
    ADMIN_ROLES,
    REVIEW_ROLES,
    DbSession,
    client_ip,
    current_device,
    get_ctx,
    optional_user,
    require_roles,
)
from dashboard.auth.tokens import DEVICE_TOKEN_PREFIX, bearer_token
from dashboard.auth.users import create_user, set_password
from dashboard.db.audit import audit
from dashboard.db.models import (
    AuditLog,
    DeadLetter,
    Device,
    IngestCounter,
    ModelRolloutRecord,
    ModelVersion,
    User,
    utcnow,
)
from dashboard.enums import Role
from dashboard.storage.evidence import EvidenceStore
from dashboard.storage.model_check import NotOnnx, check_onnx

router = APIRouter(tags=["administration"])

MODEL_MAX_BYTES = 512 * 1024 * 1024
DEAD_LETTER_API_BYTES = 4096
MODEL_CHUNK = 1024 * 1024


@router.get("/users", response_model=list[UserOut])
def list_users(db: DbSession, _: User = Depends(require_roles(*ADMIN_ROLES))) -> list[User]:
    return list(db.scalars(select(User).order_by(User.username)))


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def add_user(body: UserIn, request: Request, db: DbSession,
             admin: User = Depends(require_roles(*ADMIN_ROLES))) -> User:
    try:
        user = create_user(db, body.username, body.password, body.role, body.display_name)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    audit(db, admin, "create", "user", user.id, {"username": user.username, "role": user.role.value},
          ip=client_ip(request))
    return user


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: IdPath, body: UserPatch, request: Request, db: DbSession,
                admin: User = Depends(require_roles(*ADMIN_ROLES))) -> User:
    user = get_or_404(db, User, user_id, "user")
    changes = body.model_dump(exclude_unset=True, exclude={"password"})
    for key, value in changes.items():
        setattr(user, key, value)
    if body.password is not None:
        set_password(user, body.password)
        changes["password"] = "(changed)"
    audit(db, admin, "update", "user", user_id, {k: str(v) for k, v in changes.items()}, ip=client_ip(request))
    return user


@router.get("/audit", response_model=Page[AuditOut])
def audit_log(
    db: DbSession, _: User = Depends(require_roles(*ADMIN_ROLES)), entity: str | None = None,
    entity_id: str | None = None, actor: str | None = None, action: str | None = None,
    since: AwareDatetime | None = None, limit: int = LimitQ, offset: int = OffsetQ,
) -> dict[str, object]:
    stmt = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc())
    for column, value in ((AuditLog.entity, entity), (AuditLog.entity_id, entity_id), (AuditLog.actor, actor),
                          (AuditLog.action, action)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(AuditLog.at >= since)
    items, total = paginate(db, stmt, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


class DeadLetterItem(DeadLetterOut):
    payload_size: int = Field(description="size of the whole payload as received, in bytes")
    payload_sha256: str | None = Field(description="sha256 of the whole payload (None: stored before 0004)")
    payload_truncated: bool = Field(description="``payload`` is a prefix of it")


@router.get("/dead-letters", response_model=Page[DeadLetterItem])
def dead_letters(
    db: DbSession, _: User = Depends(require_roles(*REVIEW_ROLES)),
    code: str | None = Query(None, max_length=32, description="reason code, e.g. malformed_json"),
    limit: int = LimitQ, offset: int = OffsetQ,
) -> dict[str, object]:
    """Newest first, paginated; each payload at most ``DEAD_LETTER_API_BYTES`` (rows stored before the ingest
    capped them may hold megabytes: the database cuts them, the rest is never read)."""
    where = [DeadLetter.code == code] if code is not None else []
    total = db.scalar(select(func.count()).select_from(DeadLetter).where(*where)) or 0
    rows = db.execute(
        select(DeadLetter.id, DeadLetter.received_at, DeadLetter.topic, DeadLetter.code, DeadLetter.reason,
               func.substr(DeadLetter.payload, 1, DEAD_LETTER_API_BYTES).label("head"),
               func.length(DeadLetter.payload).label("stored"), DeadLetter.payload_size, DeadLetter.payload_sha256)
        .where(*where).order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc()).limit(limit).offset(offset)
    ).all()
    out = []
    for r in rows:
        size = r.payload_size if r.payload_size is not None else int(r.stored or 0)
        head = bytes(r.head or b"")
        out.append(DeadLetterItem(
            id=r.id, received_at=r.received_at, topic=r.topic, code=r.code, reason=r.reason[:2000],
            payload=head.decode("utf-8", "replace"), payload_size=size, payload_sha256=r.payload_sha256,
            payload_truncated=len(head) < size))
    return {"items": out, "total": total, "limit": limit, "offset": offset}


@router.get("/ingest/counters", response_model=dict[str, int])
def ingest_counters(db: DbSession, _: User = Depends(require_roles(*REVIEW_ROLES))) -> dict[str, int]:
    """Running totals: accepted, duplicate, rejected and rejected.<code>."""
    return {c.name: c.value for c in db.scalars(select(IngestCounter).order_by(IngestCounter.name))}


@router.get("/models", response_model=list[ModelVersionOut])
def list_models(db: DbSession, _: User = Depends(require_roles(*ADMIN_ROLES))) -> list[ModelVersion]:
    return list(db.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc())))


@router.post("/models", response_model=ModelVersionOut, status_code=status.HTTP_201_CREATED)
def add_model(body: ModelVersionIn, request: Request, db: DbSession,
              admin: User = Depends(require_roles(*ADMIN_ROLES))) -> ModelVersion:
    if db.scalar(select(ModelVersion).where(ModelVersion.version == body.version)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"model version {body.version!r} exists")
    row = ModelVersion(**body.model_dump())
    db.add(row)
    db.flush()
    audit(db, admin, "create", "model_version", row.id, body.model_dump(), ip=client_ip(request))
    return row


@router.post("/models/{version}/rollout", response_model=RolloutOut)
def rollout(version: KeyPath, body: RolloutIn, request: Request, db: DbSession,
            admin: User = Depends(require_roles(*ADMIN_ROLES))) -> RolloutOut:
    """Publish a retained ModelRollout to each device's cmd/model topic (QoS 1)."""
    publisher = get_ctx(request).publisher
    if publisher is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "not connected to the broker")
    model = db.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"model version {version!r} not found")
    stmt = select(Device).where(Device.active.is_(True)).order_by(Device.id)
    if body.devices is not None:
        stmt = stmt.where(Device.id.in_(body.devices))
    devices = list(db.scalars(stmt))
    unknown = set(body.devices or []) - {d.id for d in devices}
    if unknown:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown or inactive device(s): {', '.join(sorted(unknown))}")
    issued_at = utcnow()
    for device in devices:
        command = ModelRollout(site=device.site_id, device=device.id, version=model.version, url=model.url,
                               sha256=model.sha256, issued_at=issued_at)
        try:
            publisher(model_command_topic(device.site_id, device.id), encode(command), True)
        except (ConnectionError, OSError, RuntimeError) as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"publish to {device.id} failed: {exc}") from None
        db.add(ModelRolloutRecord(model_version_id=model.id, device_id=device.id, issued_at=issued_at,
                                  issued_by=admin.id))
    audit(db, admin, "rollout", "model_version", model.id, {"devices": [d.id for d in devices]},
          ip=client_ip(request))
    return RolloutOut(version=model.version, devices=[d.id for d in devices])


# -- model files ------------------------------------------------------------------------------------------
def model_key(sha256: str) -> str:
    return f"_models/{sha256}"  # content-addressed; "_models" is no device id's evidence folder (ids carry no ext)


def model_file_path(version: str) -> str:
    return f"/api/v1/models/{quote(version, safe='')}/file"


@router.put("/models/{version}/file", response_model=ModelVersionOut, status_code=status.HTTP_201_CREATED,
            responses={409: {}, 413: {}, 422: {}})
async def upload_model(
    version: KeyPath, request: Request, db: DbSession, admin: User = Depends(require_roles(*ADMIN_ROLES)),
    notes: str | None = Query(None, max_length=2000),
) -> ModelVersion:
    """Register a new version from the ONNX file in the body (``X-Content-SHA256`` checked when sent)."""
    if not 1 <= len(version) <= 64:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "version must have 1-64 characters")
    claimed = (request.headers.get(SHA256_HEADER) or "").strip().lower()
    if claimed and not SHA256_HEX.match(claimed):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{SHA256_HEADER} must be 64 hex digits")
    if db.scalar(select(ModelVersion).where(ModelVersion.version == version)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"model version {version!r} exists")
    store = get_ctx(request).evidence
    handle, staged = store.staging_file()
    try:
        with handle:
            sha256, size = await stream_body_to(handle, request, MODEL_MAX_BYTES, "model file")
        if size == 0:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "empty body: send the ONNX file")
        if claimed and claimed != sha256:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"sha256 of the body is {sha256}, {SHA256_HEADER} says {claimed}")
        try:  # devices are told to fetch and run it: only something shaped like an ONNX model
            await run_in_threadpool(check_onnx, staged)
        except NotOnnx as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"not an ONNX model: {exc}") from None
        await run_in_threadpool(store.commit, staged, model_key(sha256))
    finally:
        staged.unlink(missing_ok=True)
    row = ModelVersion(version=version, url=model_file_path(version), sha256=sha256, notes=notes)
    db.add(row)
    db.flush()
    audit(db, admin, "create", "model_version", row.id, {"version": version, "sha256": sha256, "size": size,
                                                         "uploaded": True}, ip=client_ip(request))
    return row


async def model_reader(request: Request, db: DbSession, user: User | None = Depends(optional_user)) -> str:
    """A device (its upload token) or an admin may fetch model files; returns who, for the log."""
    token = bearer_token(request.headers.get("authorization"))
    if token is not None and token.startswith(DEVICE_TOKEN_PREFIX):
        return f"device:{current_device(request, db).id}"
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "device token or admin sign-in needed",
                            headers={"WWW-Authenticate": "Bearer"})
    if user.role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not fetch model files")
    return user.username


def _chunks(store: EvidenceStore, key: str) -> Iterator[bytes]:
    with store.open(key) as fh:
        while chunk := fh.read(MODEL_CHUNK):
            yield chunk


@router.get("/models/{version}/file", response_class=StreamingResponse, responses={404: {}})
def download_model(version: KeyPath, request: Request, db: DbSession,
                   _: str = Depends(model_reader)) -> StreamingResponse:
    model = db.scalar(select(ModelVersion).where(ModelVersion.version == version))
    store = get_ctx(request).evidence
    if model is None or not store.exists(model_key(model.sha256)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no uploaded file for model version {version!r}")
    key = model_key(model.sha256)
    return StreamingResponse(_chunks(store, key), media_type="application/octet-stream", headers={
        "Content-Length": str(store.size(key)), SHA256_HEADER: model.sha256, "ETag": f'"{model.sha256}"'})
