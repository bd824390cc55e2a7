"""User accounts: creation, login check (with rate limiting), API tokens, the first admin."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, object_session

from dashboard.auth.passwords import hash_password, needs_rehash, verify_password
from dashboard.auth.ratelimit import Attempt, LoginLimiter
from dashboard.auth.sessions import KnownClient, revoke_user_sessions
from dashboard.auth.tokens import USER_TOKEN_PREFIX, new_token, token_hash
from dashboard.db.audit import audit
from dashboard.db.models import ApiToken, User, utcnow
from dashboard.enums import Role

log = logging.getLogger("counterwatch.dashboard.auth")


class LoginThrottled(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


MAX_USERNAME = 64  # app_user.username: a longer name cannot exist
MAX_PASSWORD = 256
UNKNOWN_ACTOR = "(unknown user)"


def normalise_username(username: str) -> str:
    """The one normalisation both the lookup and the limiter use: surrounding blanks go, case stays."""
    return username.strip()


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


def authenticate(db: Session, limiter: LoginLimiter, username: str, password: str, ip: str,
                 known_client: KnownClient | None = None) -> User | None:
    """The user when the password is right; None when wrong (the failure is audited in ``db``).

    Raises :class:`LoginThrottled` (429) when this source must wait, :class:`LoginBusy` (503) when too many
    hashes are in flight. Throttled and busy attempts cost no hash and write no audit row."""
    username = normalise_username(username)
    nonce = known_client.nonce if known_client is not None and known_client.username == username else None
    attempt = Attempt(ip=ip, username=username[:MAX_USERNAME + 1], known_client=nonce)
    wait = limiter.check(attempt)
    if wait > 0:
        raise LoginThrottled(wait)
    user = None
    if len(username) <= MAX_USERNAME and len(password) <= MAX_PASSWORD:
        user = db.scalar(select(User).where(User.username == username))
        with limiter.hash_slot(known_client=nonce is not None):
            ok = verify_password(password, user.password_hash if user else None)
    else:
        ok = False  # no such account can exist; do not hash attacker-sized input
    if not ok or user is None or not user.active:
        limiter.failed(attempt)
        record_login_failure(db, username, user, ip)
        return None
    limiter.succeeded(attempt)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def record_login_failure(db: Session, username: str, user: User | None, ip: str) -> None:
    """Audit a failed login. An unknown username is not stored (an attacker chooses it): only a short hash,
    so repeated tries of one name can still be told apart."""
    if user is not None:
        audit(db, user, "login_failed", "user", user.id, ip=ip)
        return
    digest = hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()[:16]
    audit(db, UNKNOWN_ACTOR, "login_failed", "user", detail={"username_sha256_16": digest}, ip=ip)


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_version += 1  # every existing browser session of this user ends
    db = object_session(user)
    if db is not None:
        revoke_user_sessions(db, user.id)


@event.listens_for(User.active, "set")
def _deactivation_ends_sessions(target: User, value: bool, oldvalue: object, _initiator: object) -> None:
    # Deactivating a user ends their browser sessions for good: reactivating must not revive a copied cookie.
    if oldvalue is True and value is False:
        target.session_version = (target.session_version or 0) + 1


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
