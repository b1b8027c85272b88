"""sd_notify against real AF_UNIX datagram sockets (a path and the abstract namespace)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.sd_notify import SdNotifier, Watchdog, watchdog_interval


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def test_ready_status_watchdog_and_stopping_reach_the_socket(listener) -> None:
    sock, path = listener
    n = SdNotifier(env={"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready("camera open, engine loaded")
    assert sock.recv(4096) == b"READY=1\nSTATUS=camera open, engine loaded"
    assert n.status("30 fps") and sock.recv(4096) == b"STATUS=30 fps"
    assert n.watchdog() and sock.recv(4096) == b"WATCHDOG=1"
    assert n.stopping() and sock.recv(4096) == b"STOPPING=1"
    n.close()


def test_abstract_namespace_address() -> None:
    """'@name' in NOTIFY_SOCKET is the Linux abstract namespace: a leading NUL byte."""
    name = f"dms-test-notify-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        n = SdNotifier(env={"NOTIFY_SOCKET": "@" + name})
        assert n.ready() and sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_without_systemd_everything_is_a_cheap_no_op(tmp_path: Path) -> None:
    n = SdNotifier(env={})
    assert not n.enabled and not n.ready() and not n.watchdog()
    assert not SdNotifier(env={"NOTIFY_SOCKET": "vsock:2:1234"}).enabled  # not an AF_UNIX address
    gone = SdNotifier(env={"NOTIFY_SOCKET": str(tmp_path / "no-such-socket")})
    assert gone.enabled and not gone.ready()  # a vanished manager never raises into the loop
    assert not Watchdog(SdNotifier(env={}), interval_s=5.0).kick()


@pytest.mark.parametrize("env, pid, expected", [
    ({"WATCHDOG_USEC": "5000000"}, 42, 5.0),
    ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "42"}, 42, 5.0),
    ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "43"}, 42, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, 42, None),
    ({"WATCHDOG_USEC": "soon"}, 42, None),
    ({}, 42, None),
])
def test_watchdog_interval_follows_sd_watchdog_enabled(env: dict[str, str], pid: int, expected: float | None) -> None:
    assert watchdog_interval(env, pid) == expected


def test_watchdog_pings_at_most_every_half_interval(listener) -> None:
    sock, path = listener
    now = [100.0]
    dog = Watchdog(SdNotifier(env={"NOTIFY_SOCKET": path}), interval_s=5.0, clock=lambda: now[0])
    assert dog.enabled
    assert dog.ready() and sock.recv(4096) == b"READY=1"
    sent = []
    for _ in range(300):  # 10 s of frames at 30 fps
        now[0] += 1 / 30
        sent.append(dog.kick())
    assert 3 <= sum(sent) <= 4  # every 2.5 s, not every frame
    pings = [sock.recv(4096) for _ in range(sum(sent))]
    assert set(pings) == {b"WATCHDOG=1"}
