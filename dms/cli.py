"""The one `dms` command. Each room owns its subcommand in a module that only declares
arguments at import; the heavy imports (torch, onnxruntime, OpenCV) happen when the
subcommand runs, so `dms run` on a Jetson never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Protocol, Sequence

from dms import __version__


class Subcommand(Protocol):
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# name -> module that implements it (rooms own their subcommands)
SUBCOMMANDS: dict[str, str] = {
    "demo": "dms.demo",
    "doctor": "dms.doctor",
    "model-info": "model.info_cli",
    "synth": "synth.cli",
    "train": "train.cli",
    "train-detector": "train.detector_cli",
    "evaluate": "train.evaluate_cli",
    "evaluate-real": "train.real_eval_cli",
    "real-pool": "train.real_pool_cli",
    "export": "export.cli",
    "calibrate": "calibration.cli",
    "evaluate-alerts": "runtime.alert_eval_cli",
    "run": "runtime.run_cli",
    "bench": "runtime.bench_cli",
    "build-engine": "deploy.build_cli",
    "bundle": "deploy.bundle_cli",
    "upload": "fleet.upload_cli",
    "fleet-report": "fleet.report_cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dms",
        description="Driver monitoring: head pose with a recurrent tracker, ONNX/TensorRT runtime, attention alerts.",
    )
    parser.add_argument("--version", action="version", version=f"dms {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module: Subcommand = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
