"""Per-step CPU latency of a calibrated model: FP32 vs INT8 vs FP16 in ONNX Runtime.

    python bench/calibration_bench.py MODEL_DIR                  # 1000 steps, 1 and 2 threads
    python bench/calibration_bench.py MODEL_DIR --steps 3000 --threads 1 2 4 --json out/lat.json

MODEL_DIR is a folder `dms calibrate` has written (step.onnx, step_int8.onnx,
step_fp16.onnx, recorded in its manifest); precisions it lacks are skipped. Each step is
one session.run with the recurrent state carried, on random frames in the network's input
range (a dense CNN's time does not depend on the pixels). Prints figures; asserts nothing:
speed depends on the machine (tests check behaviour, not time). These are CPU figures;
a Jetson's TensorRT engines are measured by deploy's own benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# 1000 timed steps (33 s of frames at 30 fps): p95 rests on 50 samples; 50 untimed steps
# first, while ONNX Runtime allocates and picks its kernels.
STEPS = 1000
WARMUP = 50
THREADS = (1, 2)
# Distinct random frames cycled through (cache effects of one repeated frame are avoided).
FRAMES = 64
SEED = 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--warmup", type=int, default=WARMUP)
    ap.add_argument("--threads", type=int, nargs="+", default=list(THREADS))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    from calibration.pipeline import FP16_FILE, INT8_FILE, step_graph_file
    from calibration.preprocess import PreprocessSpec
    from calibration.report import latency_table
    from dms.manifest import ManifestError, load_manifest

    try:
        manifest = load_manifest(args.model_dir, verify_files=True)
    except ManifestError as exc:
        print(f"calibration_bench: error: {exc}", file=sys.stderr)
        return 1
    models = {"fp32": args.model_dir / step_graph_file(manifest, args.model_dir)}
    for name, rel in (("int8", INT8_FILE), ("fp16", FP16_FILE)):
        if rel in manifest.files:
            models[name] = args.model_dir / rel
        else:
            print(f"({name}: {rel} not in the manifest; run `dms calibrate` first)")
    spec = PreprocessSpec.from_manifest(manifest.preprocess)
    images = np.random.default_rng(SEED).uniform(-1.0, 1.0, (FRAMES, *spec.shape)).astype(np.float32)
    table = latency_table(models, manifest, images, tuple(args.threads), args.steps, args.warmup)

    import onnxruntime as ort
    print(f"{manifest.model['name']}: per-step latency, ONNX Runtime {ort.__version__} CPU, "
          f"{args.steps} steps after {args.warmup} warm-up, state carried")
    print(f"{'precision':<10}{'threads':>8}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'vs fp32':>10}")
    for name, by_threads in table.items():
        for t, fig in by_threads.items():
            ratio = fig["p50_ms"] / table["fp32"][t]["p50_ms"]
            print(f"{name:<10}{t:>8}{fig['p50_ms']:>10.3f}{fig['p95_ms']:>10.3f}{fig['mean_ms']:>10.3f}"
                  f"{ratio:>9.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
