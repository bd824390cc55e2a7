"""Durable outbox: every message and evidence file waits in SQLite (WAL) until the other side confirmed it.

A message row is deleted only on the dashboard's delivery receipt (``broker/receipts.py``), not on the
broker's PUBACK: a broker killed before it saved its queue loses messages it had acknowledged. A PUBACKed
row without a receipt is sent again (same bytes; the ingest deduplicates) when it is presumed lost:

* overtaken: a receipt arrives for a message PUBACKed ``overtaken_s`` or more after it. The path delivers
  in order, so the older one is not merely queued behind a slow ingest; it is gone;
* or, as a safety net for a device that falls silent, ``first_s`` after its PUBACK, doubling per send.

An ingest that is behind, or a WAN link that is down, therefore causes no flood of copies: nothing
overtakes while nothing is receipted. With receipts off (a dashboard that sends none) the PUBACK deletes
the row. A clip row (and its file) goes only on the dashboard's 200/201 (or a final refusal). Kill the
process at any point: what was enqueued is sent after restart, in enqueue order; a message that was in
flight is sent again with the same ids.

The outbox is bounded. Evidence files have a byte budget and the oldest are dropped first; messages have a
row budget and, when full, the oldest state/health messages go before any event. Drops are counted and
reported in the heartbeat.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from broker.receipts import message_digest

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL DEFAULT 1,
    retain INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    digest TEXT,            -- broker.receipts.message_digest(topic, payload): what a receipt names
    sends INTEGER NOT NULL DEFAULT 0,
    acked_at REAL,          -- the broker's last PUBACK of it
    resend_at REAL          -- NULL: not acknowledged by the broker yet; else send again from then on
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
INDEXES = """
CREATE INDEX IF NOT EXISTS messages_digest ON messages (digest);
"""


@dataclass(frozen=True, slots=True)
class OutMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: str
    sends: int = 0


@dataclass(frozen=True, slots=True)
class ReceiptPolicy:
    """When a PUBACKed message without a receipt is presumed lost and sent again (see the module doc).
    ``enabled=False``: the PUBACK settles the row (no end-to-end receipts)."""

    enabled: bool = True
    overtaken_s: float = 60.0
    first_s: float = 6 * 3600.0
    max_s: float = 48 * 3600.0

    def resend_after(self, sends: int) -> float:
        return min(self.first_s * 2 ** max(sends - 1, 0), self.max_s)


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
    def __init__(self, path: Path, *, max_messages: int = 200_000, max_clip_bytes: int = 2 * 1024**3,
                 receipts: ReceiptPolicy | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_messages = max_messages
        self.max_clip_bytes = max_clip_bytes
        self.receipts = receipts or ReceiptPolicy()
        self._lock = threading.Lock()
        # Owner-only: the outbox holds every unsent message (events, presence) and the clip paths. Created
        # 0600 before SQLite opens it (SQLite gives its -wal/-shm files the database file's mode).
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed row survives a power cut, not just a kill
        self._db.executescript(SCHEMA)
        self._upgrade()
        self._db.executescript(INDEXES)
        for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if side.exists():  # from before the file was created 0600
                os.chmod(side, 0o600)
        self.changed = threading.Event()  # set on every enqueue: wakes the publisher

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """All or nothing (the connection autocommits otherwise)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _upgrade(self) -> None:
        """Outbox files written before delivery receipts: add the columns, name the waiting rows."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
        if "digest" in columns:
            return
        with self._transaction():
            self._db.execute("ALTER TABLE messages ADD COLUMN digest TEXT")
            self._db.execute("ALTER TABLE messages ADD COLUMN sends INTEGER NOT NULL DEFAULT 0")
            self._db.execute("ALTER TABLE messages ADD COLUMN acked_at REAL")
            self._db.execute("ALTER TABLE messages ADD COLUMN resend_at REAL")
            for row_id, topic, payload in self._db.execute("SELECT id, topic, payload FROM messages").fetchall():
                self._db.execute("UPDATE messages SET digest = ? WHERE id = ?",
                                 (message_digest(topic, bytes(payload)), row_id))

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
                "INSERT INTO messages (topic, payload, qos, retain, kind, created_at, digest) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (topic, payload, qos, int(retain), kind, time.time(), message_digest(topic, payload)),
            )
        self.changed.set()
        return int(cur.lastrowid or 0)

    def _make_room(self) -> None:
        """Full: forget first what the broker already has (awaiting its receipt), then unsent state and
        health, then unsent events, oldest first."""
        victim = self._db.execute(
            "SELECT id, kind, resend_at IS NOT NULL FROM messages "
            "ORDER BY resend_at IS NULL, kind = 'event', id LIMIT 1").fetchone()
        self._db.execute("DELETE FROM messages WHERE id = ?", (victim[0],))
        if victim[2]:
            self._bump("forgotten_unreceipted")
        else:
            self._bump("dropped_events" if victim[1] == "event" else "dropped_messages")
        log.warning("outbox full (%d messages): dropped the oldest %s message%s", self.max_messages, victim[1],
                    " (the broker has it; its receipt was still due)" if victim[2] else "")

    def pending(self, limit: int, exclude: set[int] | frozenset[int] = frozenset(),
                now: float | None = None) -> list[OutMessage]:
        """Rows to send now, oldest first: never acknowledged, or due again for want of a receipt."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain, kind, sends FROM messages "
                "WHERE resend_at IS NULL OR resend_at <= ? ORDER BY id LIMIT ?",
                (time.time() if now is None else now, limit + len(exclude)),
            ).fetchall()
        out = [OutMessage(r[0], r[1], bytes(r[2]), r[3], bool(r[4]), r[5], r[6])
               for r in rows if r[0] not in exclude]
        return out[:limit]

    def ack(self, message_id: int) -> None:
        """The broker's PUBACK: the row now waits for its receipt (or goes, with receipts off)."""
        with self._lock:
            if not self.receipts.enabled:
                self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
                return
            row = self._db.execute("SELECT sends FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:  # the receipt overtook the PUBACK
                return
            sends, now = int(row[0]) + 1, time.time()
            self._db.execute("UPDATE messages SET sends = ?, acked_at = ?, resend_at = ? WHERE id = ?",
                             (sends, now, now + self.receipts.resend_after(sends), message_id))

    def receipted(self, digests: Iterable[str], now: float | None = None) -> int:
        """The dashboard committed these messages: their rows are done, and rows they overtook are due
        again (counted as ``presumed_lost``). Returns the rows settled."""
        names = list(digests)
        now = time.time() if now is None else now
        settled = 0
        newest: float | None = None
        with self._lock, self._transaction():
            for i in range(0, len(names), 500):  # SQLite's bound-parameter limit
                chunk = names[i:i + 500]
                marks = ",".join("?" * len(chunk))
                (latest,) = self._db.execute(
                    f"SELECT MAX(acked_at) FROM messages WHERE digest IN ({marks})", chunk).fetchone()
                if latest is not None:
                    newest = max(newest or latest, latest)
                settled += self._db.execute(f"DELETE FROM messages WHERE digest IN ({marks})", chunk).rowcount
            lost = 0 if newest is None else self._db.execute(
                "UPDATE messages SET resend_at = ? WHERE resend_at > ? AND acked_at <= ?",
                (now, now, newest - self.receipts.overtaken_s)).rowcount
            if lost:
                self._bump("presumed_lost", lost)
                log.warning("%d message(s) overtaken by a receipted one: presumed lost, sending again", lost)
        if lost:
            self.changed.set()  # due now: wake the sender
        return settled

    def depth(self) -> int:
        """Messages not yet settled: unsent, in flight, or waiting for their receipt."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    def awaiting_receipt(self) -> int:
        with self._lock:
            return int(self._db.execute(
                "SELECT COUNT(*) FROM messages WHERE resend_at IS NOT NULL").fetchone()[0])

    def unsent(self) -> int:
        """Messages the broker has not acknowledged yet (the backlog a broker outage builds)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM messages WHERE resend_at IS NULL").fetchone()[0])

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

    def _bump(self, name: str, by: int = 1) -> None:
        self._db.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = value + ?", (name, by, by))

    def bump(self, name: str, by: int = 1) -> None:
        """Add to a durable counter (figures the heartbeat reports across restarts)."""
        if by:
            with self._lock:
                self._bump(name, by)

    def counter(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    @property
    def full(self) -> bool:
        _, clip_bytes = self.clip_stats()
        return self.depth() >= self.max_messages or clip_bytes >= self.max_clip_bytes * 0.95
