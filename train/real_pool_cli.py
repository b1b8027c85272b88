"""`dms real-pool`: cut the pseudo-labelled real-face pool (train.real_pool) from the user's
copy of the realdata folder into a local cache that `dms train` mixes in (config key
`real.pool`). Real faces stay in that cache; nothing here is ever committed or shipped.

Declares arguments only; OpenCV, ONNX Runtime and scipy are imported when it runs. No torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("cut real faces with the offline teacher's pose (pseudo-labels) into a local training pool "
        "(a cache: real frames are never committed or shipped)")

DEFAULT_OUT = Path("data/real_pool")      # git-ignored, like data/synth


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from train.real_pool import RealPoolConfig

    d = RealPoolConfig()
    parser.add_argument("--realdata", type=Path, required=True,
                        help="the realdata folder (README.md, real_faces/, teacher CSVs), e.g. ../shared/realdata")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"pool folder (default {DEFAULT_OUT})")
    parser.add_argument("--detector", default="auto",
                        help="head detector folder that frames video frames and vets the stills' labels, with "
                             "OpenCV's Haar cascades as the fallback ('auto': the shipped one; 'haar': Haar only)")
    parser.add_argument("--hfov", type=float, default=d.hfov_deg,
                        help=f"field of view assumed for the teacher's camera-relative angles (default {d.hfov_deg:g}, "
                             "as dms evaluate-real)")
    parser.add_argument("--clip-stride", type=int, default=d.clip_stride,
                        help=f"every n-th video frame (default {d.clip_stride})")
    parser.add_argument("--rotations", type=int, default=1,
                        help="re-rendered copies at large yaw of each face the teacher is trusted on (default 1; "
                             "0 = none); training picks kinds with real.kinds")
    parser.add_argument("--no-clips", action="store_true", help="stills only")
    parser.add_argument("--no-stills", action="store_true", help="video frames only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import json

    from runtime.assemble import DEFAULT_DETECTOR_DIR, build_localiser
    from runtime.config import RuntimeConfig
    from train.real_pool import RealPoolConfig, RealPoolError, build_pool
    from train.real_rotate import RotateConfig

    if args.clip_stride < 1:
        raise SystemExit(f"dms real-pool: --clip-stride must be >= 1, got {args.clip_stride}")
    if not 10.0 <= args.hfov <= 170.0:
        raise SystemExit(f"dms real-pool: --hfov must be within 10..170 degrees, got {args.hfov:g}")
    if args.rotations < 0:
        raise SystemExit(f"dms real-pool: --rotations must be >= 0, got {args.rotations}")
    if args.no_clips and args.no_stills:
        raise SystemExit("dms real-pool: --no-clips and --no-stills leave nothing to cut")
    if not args.realdata.is_dir():
        raise SystemExit(f"dms real-pool: --realdata: {args.realdata}: no such folder")
    cfg = RealPoolConfig(hfov_deg=args.hfov, clip_stride=args.clip_stride, stills=not args.no_stills,
                         clips=not args.no_clips)
    # "auto" finds the shipped detector (runtime.assemble.find_detector); there is no pose
    # model folder to look inside, so only the repository's models/ is searched
    localiser = build_localiser(args.detector, DEFAULT_DETECTOR_DIR.parent, RuntimeConfig())
    try:
        manifest = build_pool(args.realdata, args.out, cfg, localiser=localiser, progress=not args.quiet,
                              rotate=RotateConfig(per_face=args.rotations) if args.rotations else None)
    except RealPoolError as exc:
        raise SystemExit(f"dms real-pool: {exc}") from None
    print(json.dumps({k: manifest[k] for k in ("faces", "groups", "stats", "teacher_yaw_quantiles_1_50_99")}, indent=1))
    print(f"wrote {args.out / 'pool.npz'} and {args.out / 'manifest.json'} (a local cache: never commit it)")
    return 0
