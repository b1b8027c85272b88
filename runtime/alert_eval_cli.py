"""`dms evaluate-alerts`: alert accuracy of the attention monitor on synthetic drives.

Declares arguments only; numpy, the synthetic-drive generator and matplotlib are imported
when the command runs, so `dms --help` stays fast on a Jetson.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

HELP = ("alert accuracy: recall, latency and false alerts per hour of the attention monitor on "
        "scripted and random synthetic drives, perfect and noisy head pose")

# Where the report goes unless --out says otherwise (runs/ is git-ignored).
DEFAULT_OUT = Path("runs/alert_eval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Defaults mirror runtime.alert_eval.EvalConfig; repeated here so that --help needs no import.
    parser.add_argument("--hours", type=float, default=10.0,
                        help="hours of normal driving for the false-alert rate (default 10: no false alert "
                             "then bounds the rate at <= 0.30/h with 95%% confidence)")
    parser.add_argument("--random-hours", type=float, default=5.0,
                        help="hours of random drives (realistic mix) for precision/recall (default 5)")
    parser.add_argument("--scripted", type=int, default=300,
                        help="scripted long-distraction drives (default 300: 300/300 bounds recall at >= 0.990)")
    parser.add_argument("--profile", default="euro_ncap",
                        help="attention profile: euro_ncap, eu_addw, openpilot, nhtsa, kia (default euro_ncap)")
    parser.add_argument("--noise-deg", type=float, default=2.5,
                        help="head-pose estimation error, std per axis in degrees (default 2.5)")
    parser.add_argument("--noise-corr-s", type=float, default=0.3,
                        help="correlation time of the estimation error in seconds (default 0.3)")
    parser.add_argument("--mount", default="steering_column",
                        help="camera mount for the noisy condition: steering_column, a_pillar, rear_view_mirror")
    parser.add_argument("--track-s", type=float, default=600.0, help="length of one random drive in seconds")
    parser.add_argument("--no-lizard", action="store_true", help="skip the lizard (eyes-only) scripted set")
    parser.add_argument("--no-vats", action="store_true", help="skip the scripted VATS build-ups")
    parser.add_argument("--seed", type=int, default=0, help="seed of every drive and noise draw (default 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder (default {DEFAULT_OUT})")
    parser.add_argument("--no-png", action="store_true", help="skip the PNG (no matplotlib needed)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is not met")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def command_line(args: argparse.Namespace) -> str:
    """The full command with every setting spelled out, for the report: it reproduces the run."""
    parts = ["dms", "evaluate-alerts", "--hours", f"{args.hours:g}", "--random-hours", f"{args.random_hours:g}",
             "--scripted", str(args.scripted), "--profile", args.profile, "--noise-deg", f"{args.noise_deg:g}",
             "--noise-corr-s", f"{args.noise_corr_s:g}", "--mount", args.mount, "--track-s", f"{args.track_s:g}",
             "--seed", str(args.seed), "--out", str(args.out)]
    parts += [flag for flag, on in (("--no-lizard", args.no_lizard), ("--no-vats", args.no_vats)) if on]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from runtime.alert_eval import EvalConfig, evaluate, print_summary
    from runtime.attention_config import PROFILES

    if args.profile not in PROFILES:
        print(f"evaluate-alerts: unknown profile {args.profile!r} (known: {', '.join(PROFILES)})", file=sys.stderr)
        return 2
    for name in ("hours", "random_hours", "noise_deg", "noise_corr_s"):
        if getattr(args, name) < 0:
            print(f"evaluate-alerts: --{name.replace('_', '-')} must be >= 0", file=sys.stderr)
            return 2
    if args.scripted < 0 or args.track_s <= 0:
        print("evaluate-alerts: --scripted must be >= 0 and --track-s > 0", file=sys.stderr)
        return 2
    cfg = EvalConfig(profile=args.profile, normal_hours=args.hours, random_hours=args.random_hours,
                     scripted=args.scripted, lizard=not args.no_lizard, vats=not args.no_vats,
                     noise_deg=args.noise_deg, noise_corr_s=args.noise_corr_s, mount=args.mount, seed=args.seed,
                     track_s=args.track_s)
    try:
        cfg.pose_models()[1].validate()
    except ValueError as exc:
        print(f"evaluate-alerts: {exc}", file=sys.stderr)
        return 2
    report = evaluate(cfg, args.out, progress=not args.quiet, png=not args.no_png, command=command_line(args))
    print(Path(report.files["markdown"]).read_text())
    print(print_summary(report))
    if args.check and not report.passed:
        return 1
    return 0
