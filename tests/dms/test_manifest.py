"""The model manifest: valid ones round-trip, bad ones are refused naming the field or file."""

import json

import pytest

from dms.manifest import (
    MANIFEST_NAME, ManifestError, ModelManifest, TensorSpec, load_manifest, validate_manifest,
)


def _manifest() -> ModelManifest:
    return ModelManifest(
        model={"name": "edge-fcrnn-pose", "backbone": "edge", "head": "pose", "cell": "fc"},
        preprocess={"height": 64, "width": 64, "channels": 1, "color": "gray",
                    "mean": [0.5], "scale": [2.0], "layout": "NCHW"},
        inputs=[TensorSpec("image", [1, 1, 64, 64]), TensorSpec("state_0", [1, 256]), TensorSpec("state_1", [1, 256])],
        outputs=[TensorSpec("pose", [1, 3]), TensorSpec("state_0_out", [1, 256]), TensorSpec("state_1_out", [1, 256])],
        states=[{"input": "state_0", "output": "state_0_out", "shape": [1, 256], "layer": "layers.0"},
                {"input": "state_1", "output": "state_1_out", "shape": [1, 256], "layer": "layers.1"}],
    )


@pytest.fixture
def model_dir(tmp_path):
    (tmp_path / "step.onnx").write_bytes(b"not really onnx, but bytes with a hash")
    m = _manifest()
    m.add_file(tmp_path, "step.onnx", role="step graph")
    m.save(tmp_path)
    return tmp_path


def test_round_trip(model_dir):
    loaded = load_manifest(model_dir)
    assert loaded.to_dict() == _manifest_with_file(model_dir).to_dict()
    data = json.loads((model_dir / MANIFEST_NAME).read_text())
    assert data["angles"] == {"convention": "dms-head-v1", "order": ["pitch", "yaw", "roll"], "units": "degrees"}
    assert data["files"]["step.onnx"]["bytes"] == 38


def _manifest_with_file(model_dir):
    m = _manifest()
    m.add_file(model_dir, "step.onnx", role="step graph")
    return m


def _broken(model_dir, edit):
    data = json.loads((model_dir / MANIFEST_NAME).read_text())
    edit(data)
    (model_dir / MANIFEST_NAME).write_text(json.dumps(data))


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["inputs"][1].__setitem__("shape", [1, 0]), r"inputs\[1\]\.shape\[1\]"),
    (lambda d: d["outputs"][0].__setitem__("dtype", "float64"), r"outputs\[0\]\.dtype"),
    (lambda d: d["preprocess"].pop("mean"), r"preprocess"),
    (lambda d: d["angles"].__setitem__("order", ["yaw", "pitch", "roll"]), r"angles\.order"),
    (lambda d: d["states"][0].__setitem__("output", "nope"), r"states\[0\]\.output"),
    (lambda d: d["states"][1].__setitem__("shape", [1, 128]), r"states\[1\]\.shape"),
    (lambda d: d["preprocess"].__setitem__("mean", [0.1, 0.2]), r"preprocess\.mean"),
    (lambda d: d["files"]["step.onnx"].__setitem__("sha256", "abc"), r"files\.step\.onnx\.sha256"),
    (lambda d: d.__setitem__("surprise", 1), r"top level"),
])
def test_bad_field_is_named(model_dir, edit, field):
    _broken(model_dir, edit)
    with pytest.raises(ManifestError, match=field) as exc:
        load_manifest(model_dir)
    assert str(model_dir / MANIFEST_NAME) in str(exc.value)


def test_altered_file_is_refused_by_name(model_dir):
    (model_dir / "step.onnx").write_bytes(b"tampered")
    with pytest.raises(ManifestError, match=r"step\.onnx: sha256 .* does not match"):
        load_manifest(model_dir)
    load_manifest(model_dir, verify_files=False)  # still readable for inspection


def test_missing_file_and_missing_manifest(model_dir, tmp_path_factory):
    (model_dir / "step.onnx").unlink()
    with pytest.raises(ManifestError, match=r"step\.onnx: listed in the manifest but missing"):
        load_manifest(model_dir)
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(ManifestError, match="no model manifest"):
        load_manifest(empty)


def test_invalid_json_names_the_line(model_dir):
    (model_dir / MANIFEST_NAME).write_text('{\n  "format": "dms-model-manifest",\n  oops\n}')
    with pytest.raises(ManifestError, match="line 3"):
        load_manifest(model_dir)


def test_save_refuses_an_invalid_manifest(tmp_path):
    m = _manifest()
    m.inputs[0].shape = [1, 1, -64, 64]
    with pytest.raises(ManifestError, match=r"inputs\[0\]\.shape\[2\]"):
        m.save(tmp_path)
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_validate_accepts_what_to_dict_makes():
    validate_manifest(_manifest().to_dict())
