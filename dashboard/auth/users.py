"""User accounts: creation, login check (with rate limiting), API tokens, the first admin."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.auth.passwords import hash_password, needs_rehash, verify_password
from dashboard.auth.ratelimit import LoginLimiter
from dashboard.auth.tokens import USER_TOKEN_PREFIX, new_token, token_hash
from dashboard.db.models import ApiToken, User, utcnow
from dashboard.enums import Role

log = logging.getLogger("counterwatch.dashboard.auth")


class LoginThrottled(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


def create_user(
    db: Session, username: str, password: str, role: Role, display_name: str | None = None
) -> User:
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise ValueError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role,
                display_name=display_name)
    db.add(user)
    db.flush()
    return user


def authenticate(db: Session, limiter: LoginLimiter, username: str, password: str, ip: str) -> User | None:
    """The user when the password is right; None when wrong; :class:`LoginThrottled` when locked out."""
    wait = limiter.retry_after(username, ip)
    if wait > 0:
        raise LoginThrottled(wait)
    user = db.scalar(select(User).where(User.username == username))
    ok = verify_password(password, user.password_hash if user else None)
    if not ok or user is None or not user.active:
        limiter.failed(username, ip)
        return None
    limiter.succeeded(username, ip)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_version += 1  # every existing browser session of this user ends


@dataclass(frozen=True)
class IssuedToken:
    row: ApiToken
    token: str  # shown once


def issue_api_token(db: Session, user: User, name: str, expires_at: datetime | None = None) -> IssuedToken:
    token = new_token(USER_TOKEN_PREFIX)
    row = ApiToken(user_id=user.id, name=name, token_hash=token_hash(token), expires_at=expires_at)
    db.add(row)
    db.flush()
    return IssuedToken(row, token)


def user_for_token(db: Session, token: str) -> User | None:
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None or row.revoked or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = utcnow()
    return user


@dataclass(frozen=True)
class FirstAdmin:
    username: str
    generated_password: str | None  # None when the password came from the settings


def ensure_first_admin(db: Session, username: str, password: str | None) -> FirstAdmin | None:
    """Create the first admin when there is no admin yet (returns who was created, else None)."""
    if db.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN)):
        return None
    if db.scalar(select(User).where(User.username == username)) is not None:
        username = f"{username}-{secrets.token_hex(3)}"  # the name is taken by a non-admin: do not promote it
    generated = None
    if password is None:
        generated = password = secrets.token_urlsafe(16)
    create_user(db, username, password, Role.ADMIN, display_name="管理员 Administrator")
    return FirstAdmin(username, generated)
