"""`dms demo`: the README's main command, the whole pipeline on CPU with the shipped model.

A scripted synthetic drive (mirror and cluster checks, a 4 s look at the phone, a VATS
build-up of short glances, a hand over the face) is rendered as a 640x480 NIR camera sees
it and run through the runtime loop exactly as in the car: head detector, crop
stabilisation, the FC-RNN on ONNX Runtime carrying its state, the attention monitor and
the event log. Alerts print as they happen; the annotated video, the events, the
per-frame poses and the pose-track plot are written; each scripted event is checked
(runtime/demo.py) and the table says which were handled as expected. The exit status is
0 when the pipeline ran to the end (a missed event is a finding about the model, shown in
the table, not a failure to run), 1 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the full pipeline on a scripted synthetic drive with the shipped model (ONNX Runtime, CPU)"


# Kept here (not imported from runtime.demo) so that building the parser stays light.
DEFAULT_MODEL = Path("models") / "default"
DEFAULT_OUT = Path("out") / "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"model folder (default {DEFAULT_MODEL})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0, help="the synthetic driver and scene")
    parser.add_argument("--short", action="store_true",
                        help="a 12 s drive (a mirror check and a 4 s phone look) instead of the 75 s one")
    parser.add_argument("--no-video", action="store_true", help="skip the annotated MP4")
    parser.add_argument("--render-workers", type=int, default=None, metavar="N",
                        help="processes that render the synthetic camera ahead of the loop (default: one per "
                             "core, up to 4; 0 renders in the main process, 1.6x slower on 2 cores)")


def run(args: argparse.Namespace) -> int:
    from runtime.demo import run_demo, short_script

    result = run_demo(args.model, args.out, short_script() if args.short else None, seed=args.seed,
                      video=not args.no_video, render_workers=args.render_workers)
    return 0 if result.frames > 0 else 1
