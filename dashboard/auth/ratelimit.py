"""Login throttling that slows password guessing without letting anybody lock a real user out.

Checked before the (64 MiB, tens of ms) Argon2 hash, in this order:

1. **Back-off per source.** Failures are counted per *source*: the pair (client IP, exact username), or, for
   a browser that signed in as that user before (a signed known-client cookie, see sessions.py), that
   browser. After ``free_failures`` failures each further one doubles the wait (``base_s``, 2×, 4× ... up to
   ``max_s``); a success clears it. Nothing is ever locked: the wait only applies to that source, so an
   attacker's failures from his address or his browser do not slow the user's own browser.
2. **Back-off per username for unknown browsers** (``user_free_failures``, higher): a botnet spraying one
   account from many addresses is slowed too, while the user's known browser is still let in.
3. **Attempts per IP.** A token bucket (``ip_burst`` attempts, refilled at ``ip_per_minute``) bounds how many
   hashes one address can make us compute, whatever usernames it tries. Known browsers skip it.
4. **A global cap on concurrent hashes** (``max_concurrent_hashes``): a login that cannot get a slot within
   ``hash_wait_s`` is answered 503 at once instead of queueing more 64 MiB hashes. Known browsers have slots
   of their own (half as many, at least one), so a flood from unknown clients cannot keep users out.

Every map is a bounded LRU (``max_entries``) whose entries also expire after ``max_s`` of quiet: a flood of
made-up usernames or addresses cannot grow memory without bound."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class LimiterPolicy:
    free_failures: int = 5
    base_s: float = 5.0
    max_s: float = 300.0
    user_free_failures: int = 20
    ip_burst: int = 20
    ip_per_minute: float = 30.0
    max_concurrent_hashes: int = 4
    hash_wait_s: float = 1.0
    max_entries: int = 10_000


@dataclass(frozen=True)
class Attempt:
    """One login attempt: the username exactly as looked up, the client address, and the nonce of the
    browser's known-client cookie when that cookie names this username."""

    ip: str
    username: str
    known_client: str | None = None

    @property
    def source(self) -> str:
        if self.known_client is not None:
            return f"client:{self.known_client}"
        return f"ip:{self.ip}\x00user:{self.username}"


class LoginBusy(Exception):
    """Too many password hashes in flight: answer 503 now rather than queue."""


class BoundedLru(Generic[V]):
    """A dict of at most ``max_entries`` keys; the least recently touched key goes first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, V] = OrderedDict()

    def get(self, key: str) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _Failures:
    count: int
    last: float


@dataclass
class _Bucket:
    tokens: float
    at: float


class LoginLimiter:
    def __init__(self, policy: LimiterPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or LimiterPolicy()
        self._clock = clock
        self._sources: BoundedLru[_Failures] = BoundedLru(self.policy.max_entries)
        self._users: BoundedLru[_Failures] = BoundedLru(self.policy.max_entries)
        self._ips: BoundedLru[_Bucket] = BoundedLru(self.policy.max_entries)
        self._lock = threading.Lock()
        self._hashes = threading.BoundedSemaphore(self.policy.max_concurrent_hashes)
        self._known_hashes = threading.BoundedSemaphore(max(1, self.policy.max_concurrent_hashes // 2))

    def _wait(self, failures: _Failures | None, free: int, now: float) -> float:
        if failures is None or failures.count < free:
            return 0.0
        delay = min(self.policy.max_s, self.policy.base_s * 2 ** min(failures.count - free, 32))
        return max(0.0, failures.last + delay - now)

    def _fresh(self, lru: BoundedLru[_Failures], key: str, now: float) -> _Failures | None:
        failures = lru.get(key)
        if failures is not None and now - failures.last > self.policy.max_s:
            lru.pop(key)  # quiet for longer than the longest wait: forgotten
            return None
        return failures

    def check(self, attempt: Attempt) -> float:
        """Seconds to wait before this attempt may be tried (0: go ahead; then one IP token is spent)."""
        now = self._clock()
        with self._lock:
            wait = self._wait(self._fresh(self._sources, attempt.source, now), self.policy.free_failures, now)
            if attempt.known_client is not None:
                return wait
            wait = max(wait, self._wait(self._fresh(self._users, attempt.username, now),
                                        self.policy.user_free_failures, now))
            if wait > 0:
                return wait
            bucket = self._ips.get(attempt.ip) or _Bucket(float(self.policy.ip_burst), now)
            rate = self.policy.ip_per_minute / 60.0
            bucket.tokens = min(float(self.policy.ip_burst), bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
            self._ips.put(attempt.ip, bucket)
            if bucket.tokens < 1.0:
                return (1.0 - bucket.tokens) / rate
            bucket.tokens -= 1.0
            return 0.0

    def failed(self, attempt: Attempt) -> None:
        now = self._clock()
        with self._lock:
            for lru, key in ((self._sources, attempt.source), (self._users, attempt.username)):
                if lru is self._users and attempt.known_client is not None:
                    continue  # a known browser's typos do not count against the account
                failures = self._fresh(lru, key, now) or _Failures(0, now)
                failures.count += 1
                failures.last = now
                lru.put(key, failures)

    def succeeded(self, attempt: Attempt) -> None:
        with self._lock:
            self._sources.pop(attempt.source)
            self._sources.pop(Attempt(attempt.ip, attempt.username).source)

    @contextmanager
    def hash_slot(self, known_client: bool = False) -> Iterator[None]:
        """Hold one of the hash slots (known browsers' own, or everybody's), or raise :class:`LoginBusy`."""
        slots = self._known_hashes if known_client else self._hashes
        if not slots.acquire(timeout=self.policy.hash_wait_s):
            raise LoginBusy()
        try:
            yield
        finally:
            slots.release()

    def sizes(self) -> dict[str, int]:
        with self._lock:
            return {"sources": len(self._sources), "users": len(self._users), "ips": len(self._ips)}
