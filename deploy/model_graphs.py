"""Find a model folder's graphs and calibration tables by their manifest roles.

Export and calibration record every file they write in the model manifest with a role
(export.names.STEP_ROLE; calibration.pipeline's INT8_ROLE, FP16_ROLE, TABLE_ROLE). The role
strings are repeated here rather than imported: calibration.pipeline pulls in ONNX Runtime,
which a Jetson runtime does not install. tests/deploy checks the copies stay equal.
"""

from __future__ import annotations

import re
from pathlib import Path

from deploy.trt_plan import ModelGraphs
from dms.manifest import MANIFEST_NAME, ManifestError, ModelManifest
from export.names import STEP_ROLE

INT8_ROLE = "int8 step graph"
FP16_ROLE = "fp16 step graph"
TABLE_ROLE = "tensorrt calibration table"
_TABLE_NAME = re.compile(r"calibration_trt(\d+\.\d+\.\d+)\.cache$")


def _one(manifest: ModelManifest, role: str, source: str, required: bool) -> str | None:
    found = [rel for rel, entry in manifest.files.items() if entry.get("role") == role]
    if len(found) > 1:
        raise ManifestError(f"{source}: field 'files': {len(found)} files with role '{role}' "
                            f"({', '.join(sorted(found))}); expected one")
    if not found and required:
        raise ManifestError(f"{source}: field 'files': no file with role '{role}' "
                            "(export the model with `dms export` first)")
    return found[0] if found else None


def _tables(manifest: ModelManifest, source: str) -> dict[str, str]:
    """TensorRT release -> table file: from extra.calibration.tensorrt_tables (what
    calibration records), else from the table files' names (calibration_trt8.5.2.cache)."""
    listed = {rel for rel, entry in manifest.files.items() if entry.get("role") == TABLE_ROLE}
    recorded = manifest.extra.get("calibration", {}).get("tensorrt_tables", {})
    tables: dict[str, str] = {}
    if isinstance(recorded, dict):
        for version, info in recorded.items():
            rel = info.get("file") if isinstance(info, dict) else None
            if isinstance(rel, str) and rel in listed:
                tables[str(version)] = rel
    for rel in listed - set(tables.values()):
        match = _TABLE_NAME.search(rel)
        if match is None:
            raise ManifestError(f"{source}: field 'files.{rel}': a '{TABLE_ROLE}' whose TensorRT release "
                                "is neither recorded in extra.calibration.tensorrt_tables nor in its name")
        tables[match.group(1)] = rel
    return tables


def model_graphs(manifest: ModelManifest, model_dir: Path) -> ModelGraphs:
    """The graphs `manifest` lists; ManifestError (naming the field) when ambiguous."""
    source = str(Path(model_dir) / MANIFEST_NAME)
    fp32 = _one(manifest, STEP_ROLE, source, required=True)
    assert fp32 is not None
    return ModelGraphs(
        fp32=fp32,
        fp16=_one(manifest, FP16_ROLE, source, required=False),
        int8_qdq=_one(manifest, INT8_ROLE, source, required=False),
        tables=_tables(manifest, source),
    )
