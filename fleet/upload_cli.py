"""`dms upload`: send a spool of completed alerts to the fleet's MQTT broker (fleet.uploader).

For a spool left behind (a vehicle that was offline, a unit swapped out) or a test of the
broker configuration; inside the car `dms run --upload CONFIG` runs the same uploader in a
thread. Declares arguments only; paho-mqtt is imported when the command runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

HELP = "send completed alerts from an event log to the fleet's MQTT broker (QoS 1, resumable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True,
                        help="the uploader's JSON configuration (broker, TLS, credentials files, topics, quota)")
    parser.add_argument("--events", type=Path, required=True,
                        help="the event log (events.jsonl) or the folder holding it")
    parser.add_argument("--follow", action="store_true",
                        help="keep running and send new alerts as they complete (until SIGTERM / Ctrl-C)")
    parser.add_argument("--final", action="store_true",
                        help="also send alerts still open at the end of the log (the writer is gone for good)")
    parser.add_argument("--connect-timeout", type=float, default=30.0,
                        help="seconds to wait for the broker before giving up (default 30)")


def events_file(path: Path) -> Path:
    return path / "events.jsonl" if path.is_dir() else path


def run(args: argparse.Namespace) -> int:
    from fleet.upload_config import UploadConfig, UploadConfigError
    from fleet.uploader import Uploader
    from runtime.events import EventLogError, log_files

    try:
        cfg = UploadConfig.load(args.config)
        cfg.password()                     # an unreadable secret is a configuration error, now
    except UploadConfigError as exc:
        print(f"dms upload: {exc}", file=sys.stderr)
        return 2
    events = events_file(args.events)
    if not log_files(events):
        print(f"dms upload: {events}: no event log here", file=sys.stderr)
        return 2
    up = Uploader(cfg, events, warn=lambda m: print(m, file=sys.stderr), flush_open=args.final)
    stop = {"now": False}

    def _term(signum: int, _frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _term)
    try:
        up.connect()
        if not up.wait_connected(args.connect_timeout):
            why = (f"the broker refused the connection: {up.refused}" if up.refused
                   else f"no connection within {args.connect_timeout:g} s ({up.last_error or 'no answer'})")
            print(f"dms upload: {cfg.host}:{cfg.port}: {why}; nothing was marked sent", file=sys.stderr)
            return 2 if up.refused else 1
        while True:
            up.pump()
            left = len(up.pending())
            if stop["now"] or (not args.follow and (left == 0 or not up.connected.is_set())):
                break
            time.sleep(cfg.poll_s if left == 0 else 0.05)
    except (EventLogError, OSError) as exc:
        print(f"dms upload: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        up.close()
    left = len(up.pending())
    print(f"dms upload: {up.sent} alert(s) acknowledged by {cfg.host}:{cfg.port}, {left} pending")
    return 0 if left == 0 else 1
