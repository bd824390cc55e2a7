"""Durable outbox: every message and evidence file waits in SQLite (WAL) until the other side confirmed it.

A message row is deleted only on the broker's PUBACK, a clip row (and its file) only on the dashboard's
200/201 (or a final refusal). Kill the process at any point: what was enqueued is sent after restart, in
enqueue order; a message that was in flight is sent again with the same ids (the reader deduplicates).

The outbox is bounded. Evidence files have a byte budget and the oldest are dropped first; messages have a
row budget and, when full, the oldest state/health messages go before any event. Drops are counted and
reported in the heartbeat.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL DEFAULT 1,
    retain INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS clips (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    evidence_id TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class OutMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: str


@dataclass(frozen=True, slots=True)
class OutClip:
    id: int
    evidence_id: str
    path: Path
    sha256: str
    content_type: str
    size: int
    attempts: int


class Outbox:
    def __init__(self, path: Path, *, max_messages: int = 200_000, max_clip_bytes: int = 2 * 1024**3) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_messages = max_messages
        self.max_clip_bytes = max_clip_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed row survives a power cut, not just a kill
        self._db.executescript(SCHEMA)
        self.changed = threading.Event()  # set on every enqueue: wakes the publisher

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- messages -----------------------------------------------------------------------------------------

    def put(self, topic: str, payload: bytes, *, kind: str, qos: int = 1, retain: bool = False) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
            if count >= self.max_messages:
                self._make_room()
            cur = self._db.execute(
                "INSERT INTO messages (topic, payload, qos, retain, kind, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (topic, payload, qos, int(retain), kind, time.time()),
            )
        self.changed.set()
        return int(cur.lastrowid or 0)

    def _make_room(self) -> None:
        victim = self._db.execute(
            "SELECT id, kind FROM messages WHERE kind != 'event' ORDER BY id LIMIT 1").fetchone()
        if victim is None:
            victim = self._db.execute("SELECT id, kind FROM messages ORDER BY id LIMIT 1").fetchone()
        self._db.execute("DELETE FROM messages WHERE id = ?", (victim[0],))
        self._bump("dropped_events" if victim[1] == "event" else "dropped_messages")
        log.warning("outbox full (%d messages): dropped the oldest %s message", self.max_messages, victim[1])

    def pending(self, limit: int, exclude: set[int] | frozenset[int] = frozenset()) -> list[OutMessage]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain, kind FROM messages ORDER BY id LIMIT ?",
                (limit + len(exclude),),
            ).fetchall()
        out = [OutMessage(r[0], r[1], bytes(r[2]), r[3], bool(r[4]), r[5]) for r in rows if r[0] not in exclude]
        return out[:limit]

    def ack(self, message_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    # -- clips --------------------------------------------------------------------------------------------

    def put_clip(self, evidence_id: str, path: Path, sha256: str, content_type: str) -> bool:
        size = path.stat().st_size
        with self._lock:
            if size > self.max_clip_bytes:
                log.warning("evidence %s (%d bytes) exceeds the whole clip budget: dropped", evidence_id, size)
                self._bump("dropped_clips")
                path.unlink(missing_ok=True)
                return False
            while self._clip_bytes() + size > self.max_clip_bytes:
                oldest = self._db.execute("SELECT id, path FROM clips ORDER BY id LIMIT 1").fetchone()
                if oldest is None:
                    break
                self._db.execute("DELETE FROM clips WHERE id = ?", (oldest[0],))
                Path(oldest[1]).unlink(missing_ok=True)
                self._bump("dropped_clips")
                log.warning("outbox clip budget full (%d bytes): dropped the oldest clip", self.max_clip_bytes)
            self._db.execute(
                "INSERT OR IGNORE INTO clips (evidence_id, path, sha256, content_type, size, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (evidence_id, str(path), sha256, content_type, size, time.time()),
            )
        self.changed.set()
        return True

    def _clip_bytes(self) -> int:
        return int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM clips").fetchone()[0])

    def due_clips(self, now: float | None = None, limit: int = 4) -> list[OutClip]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, evidence_id, path, sha256, content_type, size, attempts FROM clips "
                "WHERE next_attempt_at <= ? ORDER BY id LIMIT ?",
                (time.time() if now is None else now, limit),
            ).fetchall()
        return [OutClip(r[0], r[1], Path(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def clip_done(self, clip: OutClip, *, delete_file: bool = True) -> None:
        with self._lock:
            self._db.execute("DELETE FROM clips WHERE id = ?", (clip.id,))
        if delete_file:
            clip.path.unlink(missing_ok=True)

    def clip_retry(self, clip: OutClip, delay_s: float) -> None:
        with self._lock:
            self._db.execute("UPDATE clips SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
                             (time.time() + delay_s, clip.id))

    def clip_stats(self) -> tuple[int, int]:
        with self._lock:
            n, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM clips").fetchone()
        return int(n), int(size)

    # -- counters -----------------------------------------------------------------------------------------

    def _bump(self, name: str) -> None:
        self._db.execute("INSERT INTO counters (name, value) VALUES (?, 1) "
                         "ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,))

    def bump(self, name: str, by: int = 1) -> None:
        """Add to a durable counter (figures the heartbeat reports across restarts)."""
        if by:
            with self._lock:
                self._db.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                                 "ON CONFLICT(name) DO UPDATE SET value = value + ?", (name, by, by))

    def counter(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    @property
    def full(self) -> bool:
        _, clip_bytes = self.clip_stats()
        return self.depth() >= self.max_messages or clip_bytes >= self.max_clip_bytes * 0.95
