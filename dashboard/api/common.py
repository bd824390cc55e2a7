"""Small helpers shared by the API routers."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Path, Query, status
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_ID = 2**31 - 1  # INTEGER on every backend; larger numbers cannot name a row

LimitQ = Query(50, ge=1, le=500)
OffsetQ = Query(0, ge=0, le=MAX_ID)
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


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
