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

from broker.topics import PREFIX, check_segment, device_subtree, model_command_topic

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$
SALT_BYTES = 12


class Role(StrEnum):
    DEVICE = "device"  # an edge node: publishes under its own subtree only
    DASHBOARD = "dashboard"  # reads everything devices publish, writes model commands
    ADMIN = "admin"  # operator tooling: full access
    # A hall broker's bridge into the central broker: speaks for its own site only (see broker/bridge.py).
    BRIDGE = "bridge"


class Identity(BaseModel):
    username: str
    role: Role
    site: str | None = None
    password_hash: str
    # A second hash accepted during a rotation window, so a device can switch without downtime.
    previous_hash: str | None = None


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
        if role in (Role.DEVICE, Role.BRIDGE):
            if site is None:
                raise ValueError(f"a {role.value} identity needs its site")
            check_segment(site, "site")
        password = password or secrets.token_urlsafe(24)
        self.identities[username] = Identity(
            username=username, role=role, site=site, password_hash=hash_password(password)
        )
        return password

    def rotate(self, username: str, password: str | None = None) -> str:
        """New password; the old one keeps working until :meth:`finish_rotation`."""
        ident = self.identities[username]
        password = password or secrets.token_urlsafe(24)
        self.identities[username] = ident.model_copy(
            update={"password_hash": hash_password(password), "previous_hash": ident.password_hash}
        )
        return password

    def finish_rotation(self, username: str) -> None:
        ident = self.identities[username]
        self.identities[username] = ident.model_copy(update={"previous_hash": None})

    def remove(self, username: str) -> None:
        self.identities.pop(username, None)

    def verify(self, username: str, password: str) -> bool:
        ident = self.identities.get(username)
        if ident is None:
            return False
        return any(
            h is not None and verify_password(password, h) for h in (ident.password_hash, ident.previous_hash)
        )

    # -- rendering ---------------------------------------------------------------------------------
    def password_file(self) -> str:
        # Mosquitto takes one line per user; during a rotation the new hash is served and the old
        # one is accepted by the embedded broker only. Mosquitto re-checks live connections on reload,
        # so a device still connected with the old password is dropped then and must use the new one.
        return "".join(f"{i.username}:{i.password_hash}\n" for i in sorted(self.identities.values(),
                                                                          key=lambda i: i.username))

    def acl_file(self) -> str:
        lines = ["# Rendered by counterwatch from the identity registry. Do not edit by hand.", ""]
        for ident in sorted(self.identities.values(), key=lambda i: i.username):
            lines.append(f"user {ident.username}")
            lines.extend(f"topic {access} {topic}" for access, topic in acl_rules(ident))
            lines.append("")
        return "\n".join(lines)


def acl_rules(ident: Identity) -> list[tuple[str, str]]:
    """(access, topic filter) pairs one identity is granted; nothing else is allowed."""
    if ident.role is Role.DEVICE:
        assert ident.site is not None
        return [
            ("write", device_subtree(ident.site, ident.username)),
            ("read", model_command_topic(ident.site, ident.username)),
        ]
    if ident.role is Role.DASHBOARD:
        return [("read", f"{PREFIX}/#"), ("write", f"{PREFIX}/+/+/cmd/model")]
    if ident.role is Role.BRIDGE:
        assert ident.site is not None
        # Forwards what the hall's devices publish; brings back the model commands for them.
        return [("write", f"{PREFIX}/{ident.site}/#"), ("read", f"{PREFIX}/{ident.site}/+/cmd/model")]
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
