"""The scanned-identity head: reader errors, labels that agree with pixels, the mirror test,
expressions, gaze and the dataset path, on a stand-in model in ICT-FaceKit's format
(tests/synth/ict_fixture.py). The real model is never needed in CI; the last tests use it
when ../shared/ict_facekit is present and skip otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dms.angles import euler_to_matrix, mirror_pose, nose_direction
from dms.landmarks import MIRROR_PERMUTATION
from synth.camera import Camera
from synth.head import EYE, SKIN, Accessories, Expression, Identity
from synth.ict_model import HeadModelError, load_head_model
from synth.mesh_head import MeshHead, ScannedIdentity, sample_scanned_identity
from synth.render import FrameState, Lighting, Scene, expose, sample_lighting
from synth.video import landmark_labels
from tests.synth.ict_fixture import make_fixture

REAL_MODEL = Path(__file__).resolve().parents[3] / "shared" / "ict_facekit"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_fixture(tmp_path_factory.mktemp("ict"))


def _head(model_dir, shape=None, accessories=None, symmetric=False):
    m = load_head_model(model_dir)
    sid = ScannedIdentity(tuple(shape if shape is not None else [0.0] * m.n_identity), Identity(symmetric=symmetric))
    return MeshHead(m, sid, accessories)


def _state(pose, closure=0.0, mouth=0.0, occluder=0, gaze=None):
    return FrameState(euler_to_matrix(pose), nose_direction(gaze if gaze is not None else pose),
                      Expression(mouth, closure), occluder)


# ---- the reader -------------------------------------------------------------------------
def test_a_missing_model_names_the_file(tmp_path):
    with pytest.raises(HeadModelError, match="blendshapes.npz: no head model here"):
        load_head_model(tmp_path)


@pytest.mark.parametrize("key", ["neutral", "faces", "ibug68_vertex"])
def test_a_missing_field_is_named(tmp_path, key):
    make_fixture(tmp_path, drop=(key,))
    with pytest.raises(HeadModelError, match=f"missing field.*{key}"):
        load_head_model(tmp_path)


def test_a_corrupt_file_is_named(tmp_path):
    (tmp_path / "blendshapes.npz").write_bytes(b"not a zip")
    with pytest.raises(HeadModelError, match="blendshapes.npz: not a readable"):
        load_head_model(tmp_path)


def test_the_reader_splits_quads_and_drops_overlays(model_dir):
    m = load_head_model(model_dir)
    raw = np.load(model_dir / "blendshapes.npz")
    tris_per_polygon = 1 + (raw["faces"][:, 3] >= 0)
    overlay = raw["face_material"] == list(raw["material_names"]).index("M_LacrimalFluid")
    assert overlay.sum() == 1
    assert len(m.triangles) == tris_per_polygon.sum() - tris_per_polygon[overlay].sum()
    assert m.triangles.min() >= 0 and m.triangles.max() < len(m.neutral)


def test_the_dataset_cli_rejects_a_bad_head_model_in_one_line(tmp_path, capsys):
    from dms.cli import main
    rc = main(["synth", "--out", str(tmp_path / "d"), "--head-model", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "no head model here" in err and "Traceback" not in err


# ---- geometry and labels ----------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_visible_landmarks_fall_on_the_rendered_face(model_dir, seed):
    rng = np.random.default_rng(seed)
    m = load_head_model(model_dir)
    head = MeshHead(m, sample_scanned_identity(rng, m.n_identity))
    mount = ["steering_column", "a_pillar", "rear_view_mirror"][seed % 3]
    scene = Scene(Camera.mount_preset(mount, rng=rng), head, sample_lighting(rng, False))
    state = _state(rng.uniform([-20, -40, -15], [20, 40, 15]), closure=0.2)
    full = scene.render_full(state)
    lab = landmark_labels(scene, state)
    visible = np.flatnonzero(lab["visibility"])
    assert len(visible) >= 20
    for i in visible:
        u, v = lab["landmarks_full"][i]
        mats = full["material"][int(v) - 1:int(v) + 2, int(u) - 1:int(u) + 2]
        assert np.isin(mats, (SKIN, EYE)).any(), f"landmark {i} at ({u:.0f}, {v:.0f}) is on materials {mats.ravel()}"
        depth = full["depth"][int(v) - 1:int(v) + 2, int(u) - 1:int(u) + 2]
        dist = np.linalg.norm(lab["landmarks_3d"][i])
        assert np.abs(depth - dist).min() < 0.012, f"landmark {i}: pixel depth vs landmark {dist:.3f} m"


def test_turned_away_landmarks_are_not_visible(model_dir):
    scene = Scene(Camera.mount_preset("steering_column"), _head(model_dir), Lighting())
    lab = landmark_labels(scene, _state([0, 80, 0]))        # turned to the driver's right
    assert not lab["visibility"][36:42].any()
    assert lab["visibility"][42:48].sum() >= 3


def test_a_hand_hides_the_mouth(model_dir):
    scene = Scene(Camera.mount_preset("steering_column"), _head(model_dir), Lighting())
    free = landmark_labels(scene, _state([0, 0, 0]))
    hand = landmark_labels(scene, _state([0, 0, 0], occluder=1))
    assert free["visibility"][48:68].all()
    assert not hand["visibility"][[51, 57, 62, 66]].any()      # the middle of the mouth


def test_expressions_move_the_labelled_points(model_dir):
    head = _head(model_dir)
    head.set_expression(Expression(0.0, 0.0))
    rest = head.landmarks_3d()
    head.set_expression(Expression(1.0, 1.0))
    moved = head.landmarks_3d()
    # mouth_open 1.0 = a 2 cm jaw drop (z is down in H), whatever the model's own jawOpen scale
    assert moved[8, 2] - rest[8, 2] == pytest.approx(0.02 * head.scale, rel=0.02)
    # eye closure 1.0 brings the upper lid down onto the lower lid
    assert np.linalg.norm(rest[37] - rest[41]) > 0.004
    assert np.linalg.norm(moved[37] - moved[41]) < 1e-3


def test_the_eyes_follow_the_gaze(model_dir):
    head = _head(model_dir)
    iris = head.model.material_vertices("M_IrisRight")
    head.set_gaze(np.array([1.0, 0.0, 0.0]))
    ahead = head.vertices()[iris].mean(0)
    head.set_gaze(nose_direction([0.0, 25.0, 0.0]))     # towards the subject's right (+y in H)
    right = head.vertices()[iris].mean(0)
    assert right[1] > ahead[1] + 0.003
    head.set_gaze(nose_direction([0.0, 80.0, 0.0]))     # beyond the eyes' range: they stop
    limit = head.vertices()[iris].mean(0)
    assert right[1] < limit[1] < ahead[1] + 0.012


def test_identity_changes_the_face(model_dir):
    a, b = _head(model_dir), _head(model_dir, shape=[2.0, 0.0, 0.0, 0.0])
    la, lb = a.landmarks_3d(), b.landmarks_3d()
    assert abs(lb[45, 1] - lb[36, 1]) > abs(la[45, 1] - la[36, 1]) * 1.05


@pytest.mark.parametrize("pose", [(10.0, 35.0, 12.0), (-20.0, -50.0, -8.0)])
def test_mirror_of_a_render_is_the_render_of_the_mirrored_pose(model_dir, pose):
    """A symmetric head and camera: the flipped image is the render of the mirrored pose,
    and the landmarks map with the iBUG mirror permutation."""
    cam = Camera.mount_preset("steering_column")
    scene = Scene(cam, _head(model_dir, symmetric=True, accessories=Accessories(glasses="clear")), Lighting(),
                  led_offset=(0.0, 0.0, 0.0))
    a_state, b_state = _state(pose), _state(mirror_pose(pose))
    a = scene.render_window(a_state, scene.head_box(a_state.r_head_v), (96, 96))
    b = scene.render_window(b_state, scene.head_box(b_state.r_head_v), (96, 96))
    a_head, b_head = a["material"][:, ::-1] > 0, b["material"] > 0
    # pixel centres that fall exactly on a triangle edge may take either neighbour
    assert (a_head == b_head).mean() > 0.998
    both = a_head & b_head
    ref = b["radiance"][both]
    rel = np.abs(a["radiance"][:, ::-1][both] - ref) / np.maximum(ref, 1e-6)
    # not bit-exact as for the ellipsoid head: a quad's split diagonal does not mirror, so
    # interpolated normals differ a little; an unflipped image differs by ~20 % (median)
    assert np.median(rel) < 0.005 and (rel < 0.1).mean() > 0.95
    la, lb = landmark_labels(scene, a_state), landmark_labels(scene, b_state)
    w = cam.size[0]
    expected = np.empty_like(la["landmarks_full"])
    expected[MIRROR_PERMUTATION] = np.column_stack([w - la["landmarks_full"][:, 0], la["landmarks_full"][:, 1]])
    np.testing.assert_allclose(lb["landmarks_full"], expected, atol=1e-3)


def test_harsh_sun_casts_shadows_of_the_head_on_itself(model_dir):
    lit = Lighting(kind="harsh_sun", led=0.0, sun=4.0, sun_dir=(0.3, 0.7, 0.2), ambient=0.05)
    scene = Scene(Camera.mount_preset("steering_column"), _head(model_dir), lit)
    state = _state([0, 0, 0])
    box = scene.head_box(state.r_head_v)
    res = scene.render_window(state, box, (96, 96))
    face = res["face"]
    # sun from the driver's left (+y travel): the right-hand side of the face (image left
    # for a camera in front) is in the head's own shadow, lit only by the ambient light
    lum = res["radiance"][face]
    assert lum.min() < 0.2 * np.percentile(lum, 90)


# ---- the dataset ------------------------------------------------------------------------
def test_a_scanned_dataset_is_deterministic_and_records_its_head(model_dir, tmp_path):
    from dms.cli import main
    args = ["synth", "--subjects", "3", "--tracks", "2", "--frames-per-track", "12", "--chunk-frames", "12",
            "--workers", "1", "--head-model", str(model_dir), "--full-every", "6"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "manifest.json").read_text())
    b = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert a["content_hash"] == b["content_hash"]
    assert a["config"]["head"] == "scanned"
    assert a["head_model"]["sha256"] == load_head_model(model_dir).sha256
    assert a["subjects"][0]["identity"]["kind"] == "scanned"
    assert len(a["subjects"][0]["identity"]["shape"]) == load_head_model(model_dir).n_identity
    shard = np.load(tmp_path / "a" / a["shards"][0]["file"])
    lm = shard["landmarks_2d"][shard["visibility"]]
    assert ((lm > 0) & (lm < 1)).all()                     # visible landmarks inside the crop
    assert a["counts"]["full_frames"] == 2 * 2             # full frames for the head detector too
    # two shard jobs merged: the same dataset as one run
    for i in range(2):
        assert main([*args, "--out", str(tmp_path / "c"), "--shard-index", str(i), "--num-shards", "2"]) == 0
    assert main(["synth", "merge", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["content_hash"] == a["content_hash"]
    # the preview re-renders from the manifest's config, scanned heads included
    assert main(["synth", "preview", "--data", str(tmp_path / "a"), "--out", str(tmp_path / "p"), "--seconds", "0.3"]) == 0
    assert (tmp_path / "p" / "contact_sheet.png").stat().st_size > 10_000


# ---- the real model, when this machine has it -------------------------------------------
real = pytest.mark.skipif(not (REAL_MODEL / "blendshapes.npz").exists(),
                          reason="ICT-FaceKit model not at ../shared/ict_facekit (third-party; never in the repo)")


@real
def test_the_real_model_reads_with_anatomical_proportions():
    m = load_head_model(REAL_MODEL)
    assert len(m.neutral) == 26719 and m.n_identity == 100
    head = MeshHead(m, ScannedIdentity((0.0,) * 100, Identity()))
    lm = head.landmarks_3d()
    assert np.linalg.norm(lm[36] - lm[45]) == pytest.approx(0.0892, abs=0.002)   # README: 8.92 cm
    assert lm[30, 0] > lm[36, 0] + 0.02                                           # the nose sticks out


@real
@pytest.mark.parametrize("seed", range(2))
def test_real_model_landmarks_fall_on_the_rendered_face(seed):
    rng = np.random.default_rng(seed)
    m = load_head_model(REAL_MODEL)
    head = MeshHead(m, sample_scanned_identity(rng, m.n_identity))
    scene = Scene(Camera.mount_preset("steering_column"), head, Lighting())
    state = _state(rng.uniform([-15, -30, -10], [15, 30, 10]))
    box = scene.head_box(state.r_head_v)
    res = scene.render_window(state, box, (200, 200))
    lab = landmark_labels(scene, state, res["depth"].reshape(200, 200), box)
    img, _ = expose(res["radiance"].reshape(200, 200), res["face"].reshape(200, 200), 0.45)
    vis = lab["visibility"]
    assert vis[[30, 36, 45, 48, 54]].all()
    px = (lab["landmarks_full"] - box[:2]) * 200 / (box[2] - box[0])
    mats = res["material"].reshape(200, 200)
    for i in np.flatnonzero(vis):
        u, v = px[i].astype(int)
        assert np.isin(mats[v - 1:v + 2, u - 1:u + 2], (SKIN, EYE)).any()
    assert img[res["face"].reshape(200, 200)].std() > 0.03    # shaded, not a flat silhouette


def test_cached_normals_equal_fresh_ones_through_expression_and_gaze_changes(model_dir):
    from synth.raster import vertex_normals
    head = _head(model_dir)
    for mouth, closure, gaze in ((0.0, 0.0, [0, 0, 0]), (0.0, 0.0, [10, -20, 0]), (0.6, 0.3, [10, -20, 0]),
                                 (0.6, 0.3, [-5, 15, 0]), (0.0, 0.0, [-5, 15, 0])):
        head.set_expression(Expression(mouth, closure))
        head.set_gaze(nose_direction(gaze))
        np.testing.assert_allclose(head.normals(), vertex_normals(head.vertices(), head.tris), atol=1e-9)


def test_a_clone_of_the_toolkit_is_converted_once_into_the_cache(model_dir, tmp_path, monkeypatch):
    """A user's clone (FaceXModel/*.obj + vertex_indices.json) reads like the compact file:
    the stand-in model is written out as .obj files and must come back the same."""
    from synth import ict_convert
    z = np.load(model_dir / "blendshapes.npz")
    names = [str(n) for n in z["part_names"]]
    monkeypatch.setattr(ict_convert, "PART_VERTEX_RANGES", {n: tuple(r) for n, r in zip(names, z["part_vertex_range"])})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fx = tmp_path / "ICT-FaceKit" / "FaceXModel"
    fx.mkdir(parents=True)
    mats = [str(m) for m in z["material_names"]]

    def write_obj(name, v, topology=False):
        lines = [f"v {x:.6f} {y:.6f} {w:.6f}" for x, y, w in v]
        if topology:
            last = None
            for f, m in zip(z["faces"], z["face_material"]):
                if m != last:
                    lines.append(f"usemtl {mats[m]}")
                    last = m
                lines.append("f " + " ".join(f"{i + 1}/{i + 1}" for i in f if i >= 0))
        (fx / f"{name}.obj").write_text("\n".join(lines) + "\n")

    neutral = z["neutral"].astype(np.float64)
    write_obj("generic_neutral_mesh", neutral, topology=True)
    for k in range(len(z["identity"])):
        write_obj(f"identity{k:03d}", neutral + z["identity"][k])
    exprs = [str(n) for n in z["expression_names"]]
    for k, n in enumerate(exprs):
        write_obj(n, neutral + z["expression"][k])
    (fx / "vertex_indices.json").write_text(json.dumps({"expressions": exprs,
                                                        "idx_to_landmark_verts": z["ibug68_vertex"].tolist()}))
    from_clone = load_head_model(tmp_path / "ICT-FaceKit")
    ref = load_head_model(model_dir)
    np.testing.assert_allclose(from_clone.neutral, ref.neutral, atol=1e-5)
    np.testing.assert_allclose(from_clone.identity.astype(float), ref.identity.astype(float), atol=2e-3)
    np.testing.assert_array_equal(from_clone.triangles, ref.triangles)
    np.testing.assert_array_equal(from_clone.ibug68, ref.ibug68)
    assert from_clone.expression_names == ref.expression_names
    # the converted file lives in the user's cache, never beside the clone, and is reused
    cached = list((tmp_path / "cache" / "dms" / "head_models").glob("ict-*/blendshapes.npz"))
    assert len(cached) == 1 and not list(fx.glob("*.npz"))
    stamp = cached[0].stat().st_mtime_ns
    load_head_model.cache_clear()
    load_head_model(tmp_path / "ICT-FaceKit")
    assert cached[0].stat().st_mtime_ns == stamp
