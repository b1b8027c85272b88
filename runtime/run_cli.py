"""`dms run`: the per-frame loop on a video file, camera, GStreamer pipeline, image folder or
the live synthetic source; writes per-frame pose, an annotated MP4, a pose-track PNG and
the alert event log.

Declares arguments only; OpenCV, ONNX Runtime / TensorRT and matplotlib are imported when
the command runs. Ctrl-C and SIGTERM (a service manager stopping the unit) end the loop
cleanly: the files written so far are complete and closed, and the summary is printed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from runtime.assemble import add_model_arguments

HELP = "run the head-pose loop on a video, camera or synthetic source: pose CSV/JSONL, annotated MP4, PNG, events"
DEFAULT_OUT = Path("runs/run")
# Rotated event files kept when the log is an uploader's spool: in effect all of them (the
# uploader's disk quota trims, uploaded files first); 8 MB files, so 4 TB before this binds.
SPOOL_BACKUPS = 500_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True,
                        help="video file, image folder, camera index (0), GStreamer pipeline (with '!'), "
                             "or synthetic[:SEED] (a rendered drive that knows its true pose)")
    add_model_arguments(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="per-frame pose file (default csv)")
    parser.add_argument("--no-video", action="store_true", help="skip the annotated MP4")
    parser.add_argument("--no-plot", action="store_true", help="skip the pose-track PNG")
    parser.add_argument("--upload", type=Path, default=None, metavar="CONFIG",
                        help="send completed alerts to the fleet's MQTT broker from a background thread "
                             "(fleet.uploader; CONFIG: the uploader's JSON file, secrets in files); the event "
                             "log is the spool, trimmed to the configured quota")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="length of the synthetic drive (default 20 s; other sources run to their end)")
    parser.add_argument("--speed-kmh", type=float, default=None,
                        help="fixed vehicle speed for the alerts' speed gate (synthetic: its own speed)")
    parser.add_argument("--speed-file", type=Path, default=None, help="CSV/JSONL speed signal (t, speed_kmh)")
    parser.add_argument("--profile", default="euro_ncap", help="attention profile (default euro_ncap)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _speed(args: argparse.Namespace) -> Any:
    from runtime.speed import FixedSpeed, SpeedSignal

    if args.speed_file is not None:
        return SpeedSignal.from_file(args.speed_file)
    if args.speed_kmh is not None:
        return FixedSpeed(args.speed_kmh)
    return None


def run(args: argparse.Namespace) -> int:
    from deploy.sd_notify import Watchdog
    from dms.manifest import ManifestError
    from runtime.assemble import build_pipeline, runtime_config
    from runtime.attention import AttentionMonitor
    from runtime.attention_config import PROFILES
    from runtime.backends.base import BackendError
    from runtime.events import DEFAULT_BACKUPS, EventLog
    from runtime.haar import HaarError
    from runtime.pipeline import Sink, run_loop
    from runtime.profiler import Profiler
    from runtime.sinks import PoseWriter, TrackPlot, VideoSink
    from runtime.sources import SourceError, open_source
    from tqdm import tqdm

    if args.profile not in PROFILES:
        print(f"dms run: unknown --profile {args.profile!r} (known: {', '.join(PROFILES)})", file=sys.stderr)
        return 2
    upload_cfg = None
    if args.upload is not None:
        try:
            import paho.mqtt.client  # noqa: F401  (the uploader's client, imported when it connects)

            from fleet.upload_config import UploadConfig, UploadConfigError
        except ImportError:
            print("dms run: --upload needs paho-mqtt (pip install '.[fleet]')", file=sys.stderr)
            return 2
        try:
            upload_cfg = UploadConfig.load(args.upload)
            upload_cfg.password()
        except UploadConfigError as exc:
            print(f"dms run: --upload: {exc}", file=sys.stderr)
            return 2
    try:
        synthetic = {"seconds": args.seconds} if args.source.startswith("synthetic") else {}
        source = open_source(args.source, args.fps, **synthetic)
    except (SourceError, ValueError) as exc:
        print(f"dms run: {exc}", file=sys.stderr)
        return 2
    fps = args.fps or source.fps
    stop = {"now": False}

    def _term(signum: int, _frame: Any) -> None:
        stop["now"] = True

    old = signal.signal(signal.SIGTERM, _term)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    events: EventLog | None = None
    pipeline = None
    uploader = None
    try:
        config = runtime_config(args, fps)
        monitor = AttentionMonitor(PROFILES[args.profile]())
        profiler = Profiler()
        try:
            pipeline = build_pipeline(args, config, source=source, monitor=monitor, speed=_speed(args),
                                      profiler=profiler)
        except (ManifestError, BackendError, HaarError) as exc:
            source.close()
            print(f"dms run: {exc}", file=sys.stderr)
            return 2
        # With an uploader the log is its spool: rotation keeps every file and the
        # uploader's quota decides what goes (uploaded files first).
        events = EventLog(out / "events.jsonl", model_hash=_model_hash(pipeline.manifest),
                          backups=SPOOL_BACKUPS if upload_cfg is not None else DEFAULT_BACKUPS)
        pipeline.events = events
        if upload_cfg is not None:
            from fleet.uploader import Uploader

            uploader = Uploader(upload_cfg, out / "events.jsonl", warn=lambda m: print(m, file=sys.stderr))
            uploader.start()
        sinks: list[Sink] = [PoseWriter(out / f"poses.{args.format}")]
        if not args.no_video:
            sinks.append(VideoSink(out / "annotated.mp4", fps))
        if not args.no_plot:
            sinks.append(TrackPlot(out / "pose_tracks.png"))
        if not source.name.startswith("synthetic") and args.speed_kmh is None and args.speed_file is None \
                and not args.quiet:
            print("note: no vehicle speed given (--speed-kmh / --speed-file): the speed-gated alerts stay off",
                  file=sys.stderr)
        bar = tqdm(total=args.max_frames, unit="frame", desc="dms run", file=sys.stderr, disable=args.quiet)
        # systemd (Type=notify, WatchdogSec): READY=1 after the first frame went through,
        # WATCHDOG=1 as frames keep coming; a loop that hangs is restarted by the service
        # manager. Outside systemd ($NOTIFY_SOCKET unset) every call is a no-op.
        watchdog = Watchdog()
        started = {"ready": False}

        # Monitored time per minute (fleet.drive_log): the exposure behind "alerts per hour
        # driven" in a fleet report; standard library only, so always written.
        from fleet.drive_log import DriveLog

        drive = DriveLog(out / "drive.jsonl", run_id=events.run_id)
        speed = pipeline.speed

        def tick(result: Any) -> None:
            kmh = speed.speed_at(result.t) if speed is not None else None
            if kmh is None and result.truth is not None:
                kmh = result.truth.get("speed_kmh")
            drive.add(result.t, result.pose is not None, kmh)
            bar.update(1)
            if not started["ready"]:
                started["ready"] = True
                watchdog.ready(f"running on {source.name}")
            watchdog.kick()

        try:
            summary = run_loop(source, pipeline, sinks, max_frames=args.max_frames, stop=lambda: stop["now"],
                               on_frame=tick)
        finally:
            bar.close()
            watchdog.stopping()
            drive.close()
    finally:
        signal.signal(signal.SIGTERM, old)
        if events is not None:
            events.close()
        if pipeline is not None:
            pipeline.close()      # the backend's GPU context and buffers, before interpreter exit
        if uploader is not None:
            uploader.stop()       # a last send of what completed; the rest stays in the spool
    report = {"source": source.name, "model": str(args.model), "backend": pipeline.backend.device,
              "precision": args.precision, "localiser": pipeline.finder.localiser.name,
              "summary": summary.to_dict(), "latency": profiler.report(fps)}
    (out / "run_summary.json").write_text(json.dumps(report, indent=2) + "\n")
    e2e = report["latency"]["end_to_end_ms"]
    print(f"{summary.frames_read} frames read, {summary.frames_processed} processed, "
          f"{summary.frames_skipped} skipped {summary.skipped_by_reason or ''}, "
          f"{summary.frames_with_pose} with pose, {summary.alerts} alert updates, resets {summary.resets}; "
          f"end-to-end p50 {e2e.get('p50', float('nan')):.2f} ms p99 {e2e.get('p99', float('nan')):.2f} ms"
          + ("  (interrupted)" if summary.interrupted or stop["now"] else ""))
    print(f"wrote {out}/ (poses.{args.format}, "
          + ("annotated.mp4, " if not args.no_video else "") + ("pose_tracks.png, " if not args.no_plot else "")
          + "events.jsonl, run_summary.json)")
    return 0


def _model_hash(manifest: Any) -> str:
    from runtime.backends.base import PRECISION_ROLES

    for entry in manifest.files.values():
        if entry.get("role") == PRECISION_ROLES["fp32"]:
            return str(entry["sha256"])
    return ""
