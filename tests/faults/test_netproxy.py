"""The loopback proxy the network-cut tests (and the soak bench) rely on, on real sockets: bytes pass both
ways; a black-hole cut resets open connections and holds new ones silent; a refusing cut resets new ones;
restore forwards again. If the proxy lied, the network-cut test would prove nothing."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from broker.mosquitto import free_port
from rigs.netproxy import NetProxy
from rigs.soak import wait_until


class EchoServer:
    """Echoes every byte back and counts what it received (to show a black-holed byte never arrived)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.received = 0
        self.connections = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                with self._lock:
                    self.received += len(data)
                conn.sendall(data)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[NetProxy]:
    with NetProxy("127.0.0.1", echo.port) as p:
        yield p


def _connect(proxy: NetProxy) -> socket.socket:
    sock = socket.create_connection((proxy.host, proxy.port), timeout=5)
    sock.settimeout(5)
    return sock


def _roundtrip(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def _dead(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True when the peer closed or reset the connection (not merely silent) within ``timeout``; bytes
    still queued before the close are read past."""
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if sock.recv(65536) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        pass
    return False


def test_bytes_pass_both_ways_and_are_counted(proxy: NetProxy, echo: EchoServer) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB: more than one recv, more than a socket buffer
    with _connect(proxy) as sock:
        assert _roundtrip(sock, payload) == payload
    assert proxy.stats.forwarded_connections == 1
    assert proxy.stats.bytes_up == len(payload) and proxy.stats.bytes_down == len(payload), proxy.stats
    assert echo.received == len(payload)


def test_blackhole_cut_resets_open_connections_and_holds_new_ones_silent(proxy: NetProxy,
                                                                          echo: EchoServer) -> None:
    before = _connect(proxy)
    assert _roundtrip(before, b"hello") == b"hello"
    proxy.cut()
    assert proxy.is_cut
    assert _dead(before), "an open connection must die at the cut (the client must notice)"
    before.close()

    held = _connect(proxy)  # the TCP handshake still succeeds: a WAN outage sends no RST
    received_before = echo.received
    held.sendall(b"into the void")
    assert not _dead(held, timeout=1.5), "a black-holed connection must stay silent, neither answered nor reset"
    assert echo.received == received_before, "nothing may reach the upstream during a cut"
    assert proxy.stats.blackholed_connections == 1 and proxy.stats.dropped_connections == 1, proxy.stats

    proxy.restore()
    assert not proxy.is_cut
    assert _dead(held), "restore closes held connections, as a timed-out peer would"
    held.close()
    with _connect(proxy) as after:
        assert _roundtrip(after, b"back again") == b"back again"
    assert echo.received == received_before + len(b"back again")
    assert proxy.stats.cuts == 1 and proxy.stats.forwarded_connections == 2, proxy.stats


def test_refusing_cut_resets_new_connections_at_once(proxy: NetProxy) -> None:
    proxy.cut(mode="refuse")
    started = time.monotonic()
    try:
        with _connect(proxy) as sock:  # the reset may already meet the handshake's last step
            assert _dead(sock, timeout=3)
    except ConnectionResetError:
        pass
    assert time.monotonic() - started < 2
    assert wait_until(lambda: proxy.stats.refused_connections == 1, 2)
    proxy.restore()
    with _connect(proxy) as sock:
        assert _roundtrip(sock, b"ok") == b"ok"


def test_unreachable_upstream_resets_the_client() -> None:
    with NetProxy("127.0.0.1", free_port()) as proxy:  # nothing listens there
        try:
            with _connect(proxy) as sock:
                assert _dead(sock)
        except ConnectionResetError:
            pass  # reset while the handshake completed
        assert proxy.stats.forwarded_connections == 0


def test_a_client_that_stops_reading_does_not_stall_other_connections(proxy: NetProxy) -> None:
    """The proxy is one thread: a peer with a full receive buffer must not freeze every other link
    (nor ``cut()``, which the loop applies)."""
    stuck = _connect(proxy)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    big = b"x" * (8 * 1024 * 1024)

    def send() -> None:
        with contextlib.suppress(OSError):
            stuck.sendall(big)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()  # the echo writes it back; `stuck` never reads, so the proxy's send to it blocks
    time.sleep(1.0)
    with _connect(proxy) as other:
        assert _roundtrip(other, b"still alive") == b"still alive"
    proxy.cut()
    assert _dead(stuck), "the cut must reach a connection whose peer stopped reading"
    stuck.close()
