"""Synthetic-data throughput: frames/s, time for the patent's scale, memory, disk.

    python bench/synth_bench.py                 # a sample (4 tracks x 2048 frames), extrapolated
    python bench/synth_bench.py --full          # the whole patent-scale set (>= 510,960 frames)

Prints figures; asserts nothing (speed depends on the machine; tests check behaviour).
Memory is the peak resident set of the main process and of the largest worker.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synth.dataset import PATENT_FRAMES, load_manifest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="generate the whole patent-scale set")
    ap.add_argument("--tracks", type=int, default=4)
    ap.add_argument("--frames-per-track", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, help="keep the dataset here (default: a temporary folder)")
    ap.add_argument("--head-model", type=Path,
                    help="measure the scanned head (ICT-FaceKit folder) instead of the ellipsoid one")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="dms-synth-bench-"))
    cmd = [sys.executable, "-m", "dms.cli", "synth", "--out", str(out), "--workers", str(args.workers)]
    if args.head_model:
        cmd += ["--head-model", str(args.head_model)]
    if not args.full:
        cmd += ["--subjects", str(args.tracks), "--tracks", str(args.tracks),
                "--frames-per-track", str(args.frames_per_track)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    secs = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    m = load_manifest(out)
    frames, size = m["counts"]["frames"], m["counts"]["bytes"]
    fps = frames / secs
    print("\n== synth benchmark ==")
    print(f"head                {m['config'].get('head', 'ellipsoid')}")
    print(f"frames              {frames:,} ({m['counts']['tracks']} tracks, {m['counts']['subjects']} subjects, "
          f"{m['config']['crop']['size']}px crops, {m['config']['color']})")
    print(f"wall time           {secs:,.0f} s with {args.workers} workers")
    print(f"throughput          {fps:,.0f} frames/s")
    print(f"patent scale        {PATENT_FRAMES:,} frames -> {PATENT_FRAMES / fps / 60:.1f} min at this rate")
    print(f"disk                {size / 1e6:,.1f} MB, {size / frames * 1e5 / 1e6:.0f} MB per 100k frames")
    print(f"peak memory (RSS)   largest process {children:,.0f} MB (bounded by one chunk of "
          f"{m['config']['chunk_frames']} frames per worker, whatever the dataset size)")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
