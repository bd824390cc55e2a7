"""Identity registry and Mosquitto ``$7$`` hashes, checked against the real ``mosquitto_passwd`` and broker."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from broker.credentials import (
    PBKDF2_ITERATIONS,
    Registry,
    Role,
    hash_password,
    verify_password,
)
from broker.mosquitto import BrokerConfig, MosquittoProcess, free_port, write_files
from broker.topics import TopicError
from tests.support.mqtt import BrokerHandle, connect

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
PASSWORDS = ["s3cret", "with:colons:and spaces", "口令-Ünïcode", "x" * 200]


def test_hash_format_is_mosquitto_7() -> None:
    encoded = hash_password("s3cret")
    empty, kind, iterations, salt, digest = encoded.split("$")
    assert (empty, kind, int(iterations)) == ("", "7", PBKDF2_ITERATIONS)
    assert len(salt) == 16 and len(digest) == 88  # base64 of 12 and 64 bytes
    assert hash_password("s3cret") != encoded  # salted


@pytest.mark.parametrize("encoded", [
    "", "plain", "$6$salt$hash", "$7$abc$AAAA$AAAA", "$7$101$not base64!$AAAA", "$7$0$AAAA$AAAA",
    "$7$101$AAAA$AAAA$extra",
])
def test_damaged_hashes_never_match_nor_raise(encoded: str) -> None:
    assert verify_password("s3cret", encoded) is False


def test_verify_accepts_mosquitto_passwd_hashes(tmp_path: Path) -> None:
    if not Path(MOSQUITTO_PASSWD).exists():
        pytest.fail("mosquitto_passwd is not installed (apt-get install mosquitto)")
    pwfile = tmp_path / "passwd"
    for i, password in enumerate(PASSWORDS):
        flags = ["-c"] if i == 0 else []
        subprocess.run([MOSQUITTO_PASSWD, *flags, "-b", str(pwfile), f"user{i}", password], check=True)
    lines = pwfile.read_text().splitlines()
    assert len(lines) == len(PASSWORDS)
    for i, line in enumerate(lines):
        username, encoded = line.split(":", 1)
        assert username == f"user{i}" and encoded.startswith("$7$")
        assert verify_password(PASSWORDS[i], encoded)
        assert not verify_password(PASSWORDS[i] + "x", encoded)


@pytest.mark.integration
def test_mosquitto_accepts_our_hashes(tmp_path: Path) -> None:
    registry = Registry()
    for i, password in enumerate(PASSWORDS):
        registry.add(f"user{i}", Role.ADMIN, password=password)
    cfg = BrokerConfig(data_dir=tmp_path, port=free_port())
    write_files(cfg, registry)
    handle = BrokerHandle(host=cfg.host, port=cfg.port, passwords={})
    with MosquittoProcess(cfg):
        for i, password in enumerate(PASSWORDS):
            for candidate, accepted in ((password, True), (password + "x", False)):
                client = handle.client(f"user{i}")
                client.username_pw_set(f"user{i}", candidate)
                rc = connect(client, cfg.host, cfg.port)
                client.disconnect()
                client.loop_stop()
                assert rc.is_failure != accepted, (i, candidate, rc)


def test_registry_round_trip_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "identities.yaml"
    registry = Registry()
    pw = registry.add("edge-a", Role.DEVICE, site="hall1")
    registry.add("dashboard", Role.DASHBOARD, password="given")
    registry.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Registry.load(path)
    assert loaded == registry
    assert loaded.verify("edge-a", pw) and loaded.verify("dashboard", "given")
    assert not loaded.verify("edge-a", "given") and not loaded.verify("nobody", pw)
    assert pw not in path.read_text()  # only hashes on disk
    assert Registry.load(tmp_path / "missing.yaml").identities == {}


def test_rotation_adds_a_login_and_keeps_the_old_one_until_finished() -> None:
    registry = Registry()
    old = registry.add("edge-a", Role.DEVICE, site="hall1")
    login, new = registry.rotate("edge-a")
    assert login == "edge-a.r1"
    assert registry.verify("edge-a", old) and registry.verify(login, new)
    assert not registry.verify("edge-a", new) and not registry.verify(login, old)  # each with its own
    assert registry.resolve(login) is registry.resolve("edge-a") is registry.identities["edge-a"]
    # Mosquitto holds one hash per login: both logins are in its files, with the device's rights.
    ident = registry.identities["edge-a"]
    assert registry.password_file() == f"edge-a:{ident.previous_hash}\nedge-a.r1:{ident.password_hash}\n"
    acl = registry.acl_file()
    assert "user edge-a\ntopic write cw/v1/hall1/edge-a/status" in acl
    assert "user edge-a.r1\ntopic write cw/v1/hall1/edge-a/status" in acl
    registry.finish_rotation("edge-a")
    assert registry.verify(login, new) and not registry.verify("edge-a", old) and not registry.verify("edge-a", new)
    assert registry.password_file() == f"edge-a.r1:{registry.identities['edge-a'].password_hash}\n"
    # The next rotation counts on; one still open is closed by the next (its oldest login goes).
    login2, newer = registry.rotate("edge-a")
    login3, newest = registry.rotate("edge-a")
    assert (login2, login3) == ("edge-a.r2", "edge-a.r3")
    assert registry.verify(login3, newest) and registry.verify(login2, newer) and not registry.verify(login, new)
    registry.remove("edge-a")
    assert not registry.verify(login3, newest) and registry.resolve(login3) is None


def test_a_login_never_names_two_identities() -> None:
    registry = Registry()
    registry.add("edge-a", Role.DEVICE, site="hall1")
    registry.rotate("edge-a")
    with pytest.raises(ValueError, match="taken"):
        registry.add("edge-a.r1", Role.DEVICE, site="hall1")
    registry.add("edge-a.r2", Role.DEVICE, site="hall1")
    with pytest.raises(ValueError, match="taken"):
        registry.rotate("edge-a")  # would be edge-a.r2


def test_a_registry_from_before_rotation_logins_still_verifies() -> None:
    """Registries written by earlier versions carry previous_hash without previous_login."""
    registry = Registry()
    old = registry.add("edge-a", Role.DEVICE, site="hall1")
    legacy = registry.identities["edge-a"].model_copy(update={"previous_hash": hash_password("older")})
    registry.identities["edge-a"] = legacy
    assert registry.verify("edge-a", old) and registry.verify("edge-a", "older")
    assert registry.password_file() == f"edge-a:{legacy.password_hash}\n"


def test_add_validates_names_and_site() -> None:
    registry = Registry()
    with pytest.raises(ValueError, match="site"):
        registry.add("edge-a", Role.DEVICE)
    with pytest.raises(TopicError):
        registry.add("edge/a", Role.DEVICE, site="hall1")
    with pytest.raises(TopicError):
        registry.add("edge-a", Role.DEVICE, site="hall 1")
