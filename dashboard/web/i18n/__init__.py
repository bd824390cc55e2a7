"""Message catalogues for the web UI: zh-CN first, English second.

Every string a page shows goes through :func:`Catalogue.t`. A key missing from a catalogue renders as a
visible marker (``⟦key⟧``) rather than failing the page, and the tests look for that marker, so a forgotten
translation is caught in CI instead of by a clerk at the hall PC.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Final

LANGUAGES: Final = ("zh-CN", "en")
DEFAULT_LANGUAGE: Final = "zh-CN"
MISSING_OPEN: Final = "⟦"
MISSING_CLOSE: Final = "⟧"

_HERE = Path(__file__).resolve().parent
_FILES: Final = {"zh-CN": "zh_CN.json", "en": "en.json"}


class Catalogue:
    def __init__(self, language: str, messages: dict[str, str]) -> None:
        self.language = language
        self.messages = messages

    def t(self, key: str, **params: object) -> str:
        """The message for ``key``, with ``{name}`` placeholders filled from ``params``."""
        text = self.messages.get(key)
        if text is None:
            return f"{MISSING_OPEN}{key}{MISSING_CLOSE}"
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self.messages

    def subset(self, prefix: str) -> dict[str, str]:
        """Messages under ``prefix`` (for the few strings client-side script formats itself)."""
        return {k: v for k, v in self.messages.items() if k.startswith(prefix)}


def load_messages(language: str) -> dict[str, str]:
    data = json.loads((_HERE / _FILES[language]).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"catalogue {_FILES[language]} must map keys to strings")
    return {k: v for k, v in data.items() if not k.startswith("_")}


@cache
def catalogue(language: str) -> Catalogue:
    return Catalogue(language, load_messages(normalise_language(language)))


def normalise_language(value: str | None) -> str:
    """``zh``, ``zh-cn``, ``zh_CN`` -> ``zh-CN``; ``en-US`` -> ``en``; anything else -> the default."""
    if not value:
        return DEFAULT_LANGUAGE
    v = value.strip().lower().replace("_", "-")
    if v.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE
