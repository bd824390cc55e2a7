"""MQTT identities: the registry of devices and services allowed on the broker.

The registry (a YAML file) is the source of truth; Mosquitto's ``password_file`` and ``acl_file`` are
rendered from it. Hashes use Mosquitto 2's own ``$7$`` format (PBKDF2-SHA512), so the same file serves
Mosquitto and the embedded broker, and ``mosquitto_passwd`` users can still manage it by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from broker.topics import PREFIX, check_segment, command_filter, device_publish_filters

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$
SALT_BYTES = 12


class Role(StrEnum):
    DEVICE = "device"  # an edge node: publishes under its own subtree only
    DASHBOARD = "dashboard"  # reads everything devices publish, writes model commands
    ADMIN = "admin"  # operator tooling: full access
    # A hall broker's bridge into the central broker: speaks for its own site only (see broker/bridge.py).
    BRIDGE = "bridge"


class Identity(BaseModel):
    """One MQTT identity. ``username`` is what the ACL binds (a device id, ``dashboard``, a bridge); the
    client logs in with ``login`` (default: the username).

    Rotation without downtime: stock Mosquitto holds one password per login and re-checks live connections
    on reload, so a rotation that replaced the hash would drop the device and refuse it until its config
    changed. Instead a rotation issues a new login (``edge-a.r1``, ``edge-a.r2``, …) with the new password,
    and the previous login keeps working, with the same rights, until ``finish_rotation``: the device
    switches at its next (re)connect, and nothing is refused or dropped in between."""

    username: str
    role: Role
    site: str | None = None
    password_hash: str
    login: str | None = None
    # The login and hash of the rotation being done, accepted until finish_rotation. (Registries from
    # before rotation logins have ``previous_hash`` only: the same login, accepted by the embedded broker.)
    previous_hash: str | None = None
    previous_login: str | None = None

    @property
    def current_login(self) -> str:
        return self.login or self.username

    def hashes_by_login(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {self.current_login: [self.password_hash]}
        if self.previous_hash is not None:
            out.setdefault(self.previous_login or self.current_login, []).append(self.previous_hash)
        return out


class Registry(BaseModel):
    identities: dict[str, Identity] = Field(default_factory=dict)

    # -- persistence -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> Registry:
        if not path.exists():
            return cls()
        data = yaml.safe_load(path.read_text()) or {}
        return cls.model_validate(data)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=True))
        os.chmod(tmp, 0o600)
        tmp.replace(path)

    # -- changes -----------------------------------------------------------------------------------
    def add(self, username: str, role: Role, site: str | None = None, password: str | None = None) -> str:
        """Add or replace an identity; returns the (generated) clear-text password."""
        check_segment(username, "username")
        self._check_login_free(username, owner=username)
        if role in (Role.DEVICE, Role.BRIDGE):
            if site is None:
                raise ValueError(f"a {role.value} identity needs its site")
            check_segment(site, "site")
        password = password or secrets.token_urlsafe(24)
        self.identities[username] = Identity(
            username=username, role=role, site=site, password_hash=hash_password(password)
        )
        return password

    def rotate(self, username: str, password: str | None = None) -> tuple[str, str]:
        """A new login and password for the identity; the current ones keep working until
        :meth:`finish_rotation`. Returns (login, clear-text password). A rotation still open is finished
        first (its older login stops working)."""
        ident = self.identities[username]
        generation = 1
        for login in (ident.current_login, ident.previous_login):
            if login and login.startswith(f"{username}.r") and login[len(username) + 2:].isdigit():
                generation = max(generation, int(login[len(username) + 2:]) + 1)
        login = f"{username}.r{generation}"
        check_segment(login, "login")
        self._check_login_free(login, owner=username)
        password = password or secrets.token_urlsafe(24)
        self.identities[username] = ident.model_copy(update={
            "login": login, "password_hash": hash_password(password),
            "previous_login": ident.current_login, "previous_hash": ident.password_hash})
        return login, password

    def finish_rotation(self, username: str) -> None:
        ident = self.identities[username]
        self.identities[username] = ident.model_copy(update={"previous_hash": None, "previous_login": None})

    def remove(self, username: str) -> None:
        self.identities.pop(username, None)

    def logins(self) -> dict[str, Identity]:
        """Every login name that works now (current logins, and the previous ones of open rotations)."""
        return {login: ident for ident in self.identities.values() for login in ident.hashes_by_login()}

    def resolve(self, login: str | None) -> Identity | None:
        """The identity a login name belongs to (its current login, or the previous one of a rotation)."""
        return None if login is None else self.logins().get(login)

    def verify(self, login: str, password: str) -> bool:
        ident = self.resolve(login)
        if ident is None:
            return False
        return any(verify_password(password, h) for h in ident.hashes_by_login().get(login, []))

    def _check_login_free(self, login: str, *, owner: str) -> None:
        for other in self.identities.values():
            if other.username != owner and (login == other.username or login in other.hashes_by_login()):
                raise ValueError(f"login {login!r} is taken by identity {other.username!r}")

    # -- rendering ---------------------------------------------------------------------------------
    def password_file(self) -> str:
        """One line per login (Mosquitto holds one hash per user): during a rotation both logins are there.
        A legacy same-login rotation serves the new hash only."""
        lines = []
        for ident in sorted(self.identities.values(), key=lambda i: i.username):
            lines += [f"{login}:{hashes[0]}\n" for login, hashes in sorted(ident.hashes_by_login().items())]
        return "".join(lines)

    def acl_file(self) -> str:
        lines = ["# Rendered by counterwatch from the identity registry. Do not edit by hand.", ""]
        for ident in sorted(self.identities.values(), key=lambda i: i.username):
            for login in sorted(ident.hashes_by_login()):  # a rotation's logins have the same rights
                lines.append(f"user {login}")
                lines.extend(f"topic {access} {topic}" for access, topic in acl_rules(ident))
                lines.append("")
        return "\n".join(lines)


def acl_rules(ident: Identity) -> list[tuple[str, str]]:
    """(access, topic filter) pairs one identity is granted; nothing else is allowed."""
    if ident.role is Role.DEVICE:
        assert ident.site is not None
        # Its own message kinds only, never its cmd/ topics: a leaked device password must not plant a
        # retained rollout or fake the receipts after which its outbox deletes undelivered rows.
        return [
            *(("write", f) for f in device_publish_filters(ident.site, ident.username)),
            ("read", command_filter(ident.site, ident.username)),  # model rollouts, delivery receipts
        ]
    if ident.role is Role.DASHBOARD:
        return [("read", f"{PREFIX}/#"), ("write", command_filter())]
    if ident.role is Role.BRIDGE:
        assert ident.site is not None
        # Forwards what the hall's devices publish (never commands); brings back the dashboard's commands.
        return [*(("write", f) for f in device_publish_filters(ident.site, "+")),
                ("read", command_filter(ident.site))]
    return [("readwrite", "#")]


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = salt or secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    # A damaged hash line means "no match", never an exception in the middle of a CONNECT.
    try:
        _, kind, iterations, salt_b64, digest_b64 = encoded.split("$")
        if kind != "7":
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
        actual = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(iterations))
    except ValueError:  # also binascii.Error
        return False
    return hmac.compare_digest(actual, expected)
