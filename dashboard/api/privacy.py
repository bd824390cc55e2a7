"""/api/v1/privacy: one clerk's data on request (admins only; every export is audited).

``GET /privacy/staff/{staff_id}/export`` answers the JSON document (dashboard/privacy.py); with
``?format=zip`` a ZIP of ``clerk.json`` and, with ``&evidence=true``, the evidence files of the clerk's
events that retention has not deleted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from dashboard.api.common import IdPath
from dashboard.auth.deps import ADMIN_ROLES, DbSession, client_ip, get_ctx, require_roles
from dashboard.db.audit import audit
from dashboard.db.models import User
from dashboard.privacy import ClerkExportDoc, ClerkNotFound, clerk_export, content_disposition, zip_file

router = APIRouter(prefix="/privacy", tags=["privacy"])


@router.get("/staff/{staff_id}/export", response_model=ClerkExportDoc,
            responses={200: {"content": {"application/zip": {}}}, 404: {}})
async def export_clerk(
    staff_id: IdPath, request: Request, db: DbSession,
    format: Literal["json", "zip"] = Query("json", description="zip: clerk.json (+ evidence files) in a ZIP"),
    evidence: bool = Query(False, description="with format=zip: include the evidence files of their events"),
    admin: User = Depends(require_roles(*ADMIN_ROLES)),
) -> Response:
    if evidence and format != "zip":
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "evidence files come only in a ZIP: format=zip")
    try:
        export = clerk_export(db, staff_id=staff_id)
    except ClerkNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    employee_no = export.doc.profile.employee_no
    headers = {"Content-Disposition": content_disposition(f"clerk-{employee_no}.{format}")}
    if format == "json":
        audit(db, admin, "export", "staff", staff_id, {"format": "json"}, ip=client_ip(request))
        return Response(export.json_bytes(), media_type="application/json", headers=headers)
    store = get_ctx(request).evidence if evidence else None
    spool, included = await run_in_threadpool(zip_file, export, store)  # reading clips must not block the loop
    audit(db, admin, "export", "staff", staff_id, {"format": "zip", "evidence_files": included},
          ip=client_ip(request))

    def chunks() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(256 * 1024):
                yield chunk

    return StreamingResponse(chunks(), media_type="application/zip", headers=headers)
