"""Backends behind one interface (runtime.backends.base.Backend), built from a model folder.

``open_backend`` verifies the manifest and the sha256 of every file it lists first, so a
corrupt or replaced model stops start-up with an error naming the file
(dms.manifest.ManifestError), then loads the backend's library lazily: importing this
package needs neither onnxruntime nor TensorRT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from dms.manifest import MANIFEST_NAME, ModelManifest, load_manifest
from runtime.backends.base import PRECISIONS, Backend, BackendError, graph_for

BACKENDS = ("onnxruntime", "tensorrt")
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def engine_file_name(precision: str) -> str:
    """deploy's name for the GPU engine of a precision (deploy.trt_plan.engine_file_name;
    repeated so that this module does not import deploy)."""
    return f"step_{precision}.engine"


def engine_for(manifest: ModelManifest, model_dir: Path, precision: str) -> Path:
    """The TensorRT engine of ``precision``: one the manifest lists (by name or role), else
    deploy's ``step_<precision>.engine`` beside the graphs (`dms build-engine` writes it
    there with its own engine manifest, checked at load); or pass --engine PATH."""
    engines = [rel for rel, e in manifest.files.items()
               if Path(rel).suffix in ENGINE_SUFFIXES or "engine" in str(e.get("role", ""))]
    match = [rel for rel in engines if precision in rel.lower() or precision in str(manifest.files[rel].get("role", ""))]
    if len(match) == 1:
        return Path(model_dir) / match[0]
    default = Path(model_dir) / engine_file_name(precision)
    if not match and default.is_file():
        return default
    raise BackendError(f"{default}: " + (f"no TensorRT engine for {precision}" if not match
                                        else f"several {precision} engines listed in {MANIFEST_NAME}: {match}")
                       + "; build one on this device (dms build-engine MODEL_DIR --precision "
                       + f"{precision}) or pass --engine PATH")


def open_backend(model_dir: Path | str, backend: str = "onnxruntime", precision: str = "fp32", *,
                 threads: int = 1, providers: Sequence[str] | None = None, engine: Path | str | None = None,
                 verify: bool = True) -> tuple[Backend, ModelManifest]:
    """(backend, manifest) for MODEL_DIR. Raises ManifestError (names the file) or BackendError."""
    model_dir = Path(model_dir)
    if backend not in BACKENDS:
        raise BackendError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if precision not in PRECISIONS:
        raise BackendError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    manifest = load_manifest(model_dir, verify_files=verify)
    if backend == "onnxruntime":
        from runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(graph_for(manifest, model_dir, precision), manifest, precision,
                                  threads=threads, providers=providers), manifest
    from runtime.backends.tensorrt_backend import TensorRTBackend

    path = Path(engine) if engine is not None else engine_for(manifest, model_dir, precision)
    return TensorRTBackend(path, manifest, precision), manifest
