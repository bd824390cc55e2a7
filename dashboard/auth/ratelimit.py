"""Login rate limiting per (username, client IP): a sliding window of failed attempts."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginLimiter:
    def __init__(self, max_failures: int = 5, window_s: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def retry_after(self, username: str, ip: str) -> float:
        """Seconds until another attempt is allowed (0 when allowed now)."""
        key = (username.lower(), ip)
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(key)
            if not failures:
                return 0.0
            while failures and now - failures[0] > self.window_s:
                failures.popleft()
            if len(failures) < self.max_failures:
                return 0.0
            return max(0.0, self.window_s - (now - failures[0]))

    def failed(self, username: str, ip: str) -> None:
        with self._lock:
            self._failures[(username.lower(), ip)].append(time.monotonic())

    def succeeded(self, username: str, ip: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), ip), None)
