"""Every route of a running dashboard app (API, web pages, reports), as (method, path) pairs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI


def _walk(items: Iterable[Any]) -> Iterator[tuple[str, str]]:
    for item in items:
        if hasattr(item, "effective_candidates") and not hasattr(item, "path"):
            yield from _walk(item.effective_candidates())
            continue
        for method in sorted(getattr(item, "methods", None) or ()):
            yield method, item.path


def routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(set(_walk(app.routes)))
