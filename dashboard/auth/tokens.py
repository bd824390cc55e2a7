"""Opaque bearer tokens. Only a sha256 is stored: a leaked database leaks no usable token.

Prefixes tell the kinds apart at a glance (and in secret scanners): ``cwt_`` user API token,
``cwd_`` device evidence-upload token."""

from __future__ import annotations

import hashlib
import secrets

USER_TOKEN_PREFIX = "cwt_"
DEVICE_TOKEN_PREFIX = "cwd_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
