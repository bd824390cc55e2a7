"""Small helpers shared by the API routers."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, BinaryIO, TypeVar

from fastapi import Form, HTTPException, Path, Query, Request, status
from fastapi.routing import APIRoute
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from dashboard.services.errors import ServiceError

T = TypeVar("T")

MAX_ID = 2**31 - 1  # INTEGER on every backend; larger numbers cannot name a row

LimitQ = Query(50, ge=1, le=500)
OffsetQ = Query(0, ge=0, le=MAX_ID)
# The one integer id type of every path, API and web alike: a number no row can have is refused (422)
# before it reaches the database (where SQLite overflows and PostgreSQL raises: both were a 500).
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="row id")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdForm = Annotated[int, Form(ge=1, le=MAX_ID)]  # a row chosen in a page's form
KEY_MAX = 64  # the String(64) keys: event ids, device ids, model versions, evidence ids
EventIdPath = Annotated[str, Path(min_length=1, max_length=KEY_MAX, description="the edge's event id")]
KeyPath = Annotated[str, Path(min_length=1, max_length=KEY_MAX, description="a text key (device id, version)")]


class ServiceRoute(APIRoute):
    """A route whose handler calls dashboard.services: a refusal becomes the HTTP error it names."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as exc:
                raise HTTPException(exc.status_code, str(exc)) from None

        return handle


def get_or_404(db: Session, model: type[T], key: Any, what: str | None = None) -> T:
    row = db.get(model, key)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what or model.__name__} {key!r} not found")
    return row


def paginate(db: Session, stmt: Select[Any], limit: int, offset: int) -> tuple[list[Any], int]:
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.scalars(stmt.limit(limit).offset(offset)).unique())
    return items, int(total)


def bad_request(message: str, code: int = status.HTTP_422_UNPROCESSABLE_CONTENT) -> HTTPException:
    return HTTPException(code, message)


SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


async def stream_body_to(handle: BinaryIO, request: Request, limit: int, what: str = "body") -> tuple[str, int]:
    """Copy the request body into ``handle`` (a store's staging file), refusing it past ``limit`` bytes even
    without a Content-Length; returns (sha256 hex, size). The caller closes and removes the staged file."""
    digest, size = hashlib.sha256(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"{what} is over the {limit}-byte limit")
        digest.update(chunk)
        handle.write(chunk)
    return digest.hexdigest(), size
