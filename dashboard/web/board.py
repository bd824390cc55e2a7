"""The hall board: one tile per window (staffed / paused / unattended / camera offline), kept live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session

from dashboard.auth.deps import AnyUser, DbSession, get_ctx
from dashboard.db.models import User
from dashboard.web import pages, queries
from dashboard.web.pages import LIVE_PING_S
from dashboard.web.render import render, render_fragment

router = pages.page_router()
live = pages.live_router()


def _board_context(request: Request, db: Session, user: User) -> dict[str, Any]:
    ctx = pages.page_context(request, db, user, "board", "board.title")
    ctx.update(windows=queries.hall_board(db, None, pages.now()), board_states=queries.BOARD_STATES)
    return ctx


@router.get("/board", name="web_board")
def board(request: Request, db: DbSession, user: AnyUser) -> Response:
    return render("board.html", _board_context(request, db, user))


@live.get("/live/board", name="web_live_board")
def live_board(request: Request, user: AnyUser) -> Response:
    app = get_ctx(request)

    def snapshot() -> str:
        with app.db.session() as db:
            return render_fragment("partials/board_grid.html", _board_context(request, db, user))

    async def updates() -> AsyncIterator[str]:
        # The first snapshot is always sent: whatever changed between the page's render (or a dropped
        # connection) and this stream's start would otherwise stay off the board until the next change.
        last, idle = None, 0.0
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            html = await run_in_threadpool(snapshot)
            if html != last:
                yield pages.sse("replace", {"html": html})
                last, idle = html, 0.0
            elif idle >= LIVE_PING_S:
                yield ": ping\n\n"
                idle = 0.0
            await asyncio.sleep(1.0)
            idle += 1.0

    return pages.stream(updates())
