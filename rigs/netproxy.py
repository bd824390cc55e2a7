"""A loopback TCP proxy that a test (or the soak bench) controls, to simulate a WAN cut.

    proxy = NetProxy("127.0.0.1", broker_port).start()     # clients connect to proxy.port
    proxy.cut()        # every open connection is dropped; new ones are accepted and then black-holed
    proxy.restore()    # new connections are forwarded again

A cut black-holes rather than refuses: a real WAN outage does not send RSTs, so the client only learns of it
from its own keepalive / connect timeout, which is the path worth exercising. ``cut(mode="refuse")`` closes
new connections at once instead (a router that answers "unreachable")."""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

CutMode = Literal["blackhole", "refuse"]
BUFFER_LIMIT = 1 << 20  # bytes queued per direction before the proxy stops reading from the sender


@dataclass
class ProxyStats:
    accepted: int = 0
    forwarded_connections: int = 0
    dropped_connections: int = 0
    blackholed_connections: int = 0
    refused_connections: int = 0
    bytes_up: int = 0  # client -> upstream
    bytes_down: int = 0  # upstream -> client
    cuts: int = 0


class NetProxy:
    """Forwards ``listen_host:port`` to ``upstream``; one selector thread does all the I/O."""

    def __init__(self, upstream_host: str, upstream_port: int, *, listen_host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server((listen_host, port), reuse_port=False)
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self.stats = ProxyStats()
        self._mode: CutMode | None = None
        self._lock = threading.Lock()
        self._pairs: dict[socket.socket, socket.socket] = {}  # both directions: a -> b and b -> a
        self._client_side: set[socket.socket] = set()
        self._held: list[socket.socket] = []  # black-holed: accepted, never read, never answered
        self._out: dict[socket.socket, bytearray] = {}  # bytes queued for a socket (it was not writable)
        self._closing: set[socket.socket] = set()  # its peer sent EOF: close once its queue is flushed
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"netproxy-{self.port}", daemon=True)

    # -- control ------------------------------------------------------------------------------------------

    def start(self) -> NetProxy:
        self._thread.start()
        return self

    @property
    def is_cut(self) -> bool:
        return self._mode is not None

    def cut(self, mode: CutMode = "blackhole") -> None:
        """Drop every open connection; from now on new ones are black-holed (or refused)."""
        with self._lock:
            self._mode = mode
            self.stats.cuts += 1
        self._call_in_loop()

    def restore(self) -> None:
        """Forward new connections again (the black-holed ones are closed, as a timed-out peer would be)."""
        with self._lock:
            self._mode = None
        self._call_in_loop()

    def stop(self) -> None:
        self._stop.set()
        self._call_in_loop()
        self._thread.join(5)

    def __enter__(self) -> NetProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call_in_loop(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # -- I/O loop (one thread) ----------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                for key, events in self._selector.select(timeout=0.5):
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    if sock is self._listener:
                        self._accept()
                    elif sock is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                        self._apply_mode()
                    else:
                        if events & selectors.EVENT_WRITE:
                            self._flush(sock)
                        if events & selectors.EVENT_READ and sock in self._pairs:
                            self._pump(sock)
        finally:
            for sock in [*self._pairs, *self._held, self._listener, self._wake_r, self._wake_w]:
                with contextlib.suppress(OSError):
                    sock.close()
            self._selector.close()

    def _apply_mode(self) -> None:
        if self._mode is not None:
            for sock in list(self._client_side):
                self.stats.dropped_connections += 1
                self._close_pair(sock, reset=True)
        else:
            for sock in self._held:
                with contextlib.suppress(OSError):
                    sock.close()
            self._held.clear()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        self.stats.accepted += 1
        mode = self._mode
        if mode == "refuse":
            self.stats.refused_connections += 1
            _reset(client)
            return
        if mode == "blackhole":
            self.stats.blackholed_connections += 1
            self._held.append(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError as exc:
            log.info("netproxy: upstream %s:%d unreachable: %s", *self.upstream, exc)
            _reset(client)
            return
        for s in (client, upstream):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._out[s] = bytearray()
            self._selector.register(s, selectors.EVENT_READ)
        self._pairs[client], self._pairs[upstream] = upstream, client
        self._client_side.add(client)
        self.stats.forwarded_connections += 1

    def _pump(self, sock: socket.socket) -> None:
        """Read what ``sock`` sent and queue it for its peer. Never blocks: a peer that stops reading only
        stops this one direction (its buffer fills, then ``sock`` is no longer read), not the whole proxy."""
        peer = self._pairs[sock]
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            # EOF: pass on what is still queued for the peer, then close both (no half-open links).
            self._closing.add(peer)
            self._flush(peer)
            return
        if sock in self._client_side:
            self.stats.bytes_up += len(data)
        else:
            self.stats.bytes_down += len(data)
        self._out[peer] += data
        self._flush(peer)

    def _flush(self, sock: socket.socket) -> None:
        buf = self._out.get(sock)
        if buf is None:
            return
        try:
            while buf:
                sent = sock.send(buf)
                del buf[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close_pair(sock)
            return
        if not buf and sock in self._closing:
            self._close_pair(sock)
            return
        self._update(sock)
        self._update(self._pairs[sock])

    def _update(self, sock: socket.socket) -> None:
        """Selector interest: write while output is queued; read while the peer's queue has room."""
        peer = self._pairs[sock]
        events = selectors.EVENT_WRITE if self._out[sock] else 0
        if len(self._out[peer]) < BUFFER_LIMIT and sock not in self._closing and peer not in self._closing:
            events |= selectors.EVENT_READ
        if events:
            try:
                self._selector.modify(sock, events)
            except KeyError:
                self._selector.register(sock, events)
        else:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)

    def _close_pair(self, sock: socket.socket, *, reset: bool = False) -> None:
        peer = self._pairs.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._pairs.pop(s, None)
            self._out.pop(s, None)
            self._closing.discard(s)
            self._client_side.discard(s)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(s)
            if reset:
                _reset(s)
            else:
                with contextlib.suppress(OSError):
                    s.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees the connection die at once, as on a dropped link."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
