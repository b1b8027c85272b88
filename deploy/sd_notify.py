"""systemd's notify protocol (sd_notify(3)) without libsystemd: readiness, status and the
watchdog for `dms run` under the `Type=notify`, `WatchdogSec=` service.

The protocol: newline-separated KEY=VALUE fields in one datagram to the AF_UNIX socket
named by $NOTIFY_SOCKET; a name starting with '@' is in the Linux abstract namespace
(the '@' stands for a leading NUL byte). With WatchdogSec= set, systemd exports
$WATCHDOG_USEC (the interval) and $WATCHDOG_PID (the process that must send), and kills
and restarts (Restart=on-failure) a service that sends no WATCHDOG=1 for that long;
sd_watchdog_enabled(3) recommends sending every half interval. Outside systemd (no
$NOTIFY_SOCKET) every call is a cheap no-op, so the runtime loop calls it unconditionally.

Why a watchdog fed by the loop rather than a timer thread: a thread would keep the
service "alive" while the frame loop is stuck on a dead camera or a hung GPU call; fed
from the loop, a stall longer than WatchdogSec restarts the service, which is what a
driver monitor that must report "monitoring unavailable" within seconds needs.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping


class SdNotifier:
    """Sends sd_notify messages to $NOTIFY_SOCKET (or `address`); no-op without one."""

    def __init__(self, address: str | None = None, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = address if address is not None else env.get("NOTIFY_SOCKET", "")
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        # Only AF_UNIX addresses: a path or '@abstract' (systemd >= 254 also offers vsock:).
        return self.address.startswith(("/", "@"))

    def _target(self) -> str:
        return "\0" + self.address[1:] if self.address.startswith("@") else self.address

    def notify(self, *fields: str) -> bool:
        """Send fields like "READY=1"; True when a datagram went out. Errors are swallowed
        (as sd_notify does for a missing manager) but reported by the return value."""
        if not self.enabled or not fields:
            return False
        message = "\n".join(fields).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message, self._target())
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog interval in seconds if systemd asked *this* process to send, else None
    (sd_watchdog_enabled(3): $WATCHDOG_USEC, honoured only when $WATCHDOG_PID is unset or
    is our pid, so that child processes inheriting the environment stay quiet)."""
    env = os.environ if env is None else env
    pid = os.getpid() if pid is None else pid
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1e6


class Watchdog:
    """Call `kick()` once per processed frame: it sends WATCHDOG=1 at most every half
    interval, so at 30 frames/s it costs a clock read per frame and one datagram a few
    times per WatchdogSec. `ready()` once the camera and the model are up."""

    def __init__(self, notifier: SdNotifier | None = None, interval_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier if notifier is not None else SdNotifier()
        self.interval_s = interval_s if interval_s is not None else watchdog_interval()
        self._clock = clock
        self._last: float | None = None

    @property
    def enabled(self) -> bool:
        return self.notifier.enabled and self.interval_s is not None

    def ready(self, status: str | None = None) -> bool:
        sent = self.notifier.ready(status)
        if sent:
            self._last = self._clock()
        return sent

    def kick(self) -> bool:
        """Feed the watchdog if half the interval has passed; True when a ping went out."""
        if not self.enabled:
            return False
        assert self.interval_s is not None
        now = self._clock()
        if self._last is not None and now - self._last < self.interval_s / 2:
            return False
        sent = self.notifier.watchdog()
        if sent:
            self._last = now
        return sent

    def stopping(self) -> bool:
        return self.notifier.stopping()
