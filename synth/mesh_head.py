"""A scanned-identity head: one subject of the ICT-FaceKit linear model as a triangle mesh.

The geometry is real facial shape (principal components of light-stage scans), so crops
of it carry the cues a network needs on real faces: the nose's profile, the eye sockets,
the jaw line, cheeks and ears. Everything the ellipsoid head does is kept: expressions
drive the labelled mouth opening and eye closure (through the model's own jawOpen and
eyeBlink shapes), the eyeballs turn with the gaze, and the cap, glasses, mask and the
hand/phone occluders are the same objects, sized to this head.

Frames: the model is in centimetres with x to the subject's left, y up, z out of the
face; H (synth.head) is metres, x out of the nose, y to the subject's right, z down, with
its origin in the middle of the skull. The 68 iBUG landmarks are the model's own
landmark vertices, so a label is a point of the rendered surface by construction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
from matplotlib.path import Path as PolyPath
from numba import njit

from synth.geometry import Primitives, intersect
from synth.head import (EYE, JAW_DROP_M, SKIN, Accessories, Expression, Identity, SkinTexture, accessory_albedo,
                        accessory_indices, add_accessories, glasses_masks, present_primitives, reject_cap_edges,
                        sample_identity)
from synth.ict_model import ICTModel, HeadModelError
from synth.raster import vertex_normals

# ICT axes -> H axes: H x = ICT z, H y = -ICT x, H z = -ICT y (a proper rotation), cm -> m.
ICT_TO_H = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
# H's origin on the model (cm, ICT axes): y 3.0 puts the eye line (y 3.6) 6 mm above the
# origin and the skull's middle (top y 14.5, chin -7.6) near it, as on the ellipsoid head
# (eyes at z -0.008); the nose tip is at z 13.1 and the back of the skull at -9: z 1.5
# puts the nose tip 11.6 cm in front of the centre (ellipsoid: synth.video.NOSE_TIP_H, 12 cm).
ICT_ORIGIN_CM = np.array([0.0, 3.0, 1.5])
# Height of the mean ellipsoid head (top of the skull to the chin, metres): the scale the
# shared accessories (cap, hand, phone) were sized for.
ELLIPSOID_HEAD_HEIGHT_M = 0.235
# Identity coefficients are drawn from N(0, 1) per mode, the toolkit's own sampling rule
# (ICT-FaceKit Scripts/ict_face_model.py, randomize_identity), truncated at 2.5 sigma so
# that no subject is a caricature.
IDENTITY_CLIP_SIGMA = 2.5
EYE_GAZE_LIMIT_DEG = 35.0   # eyes rotate at most this far from straight ahead (oculomotor range ~45)
NORMALS_STEPS = 64          # expression resolution at which skin normals are recomputed
MOUTH_SHUT = 0.02           # mouth_open below this: lips together (a 0.4 mm jaw drop)
LENS_AHEAD_M = 0.0275       # glasses' lens plane in front of the eyeball centre

# Reflectances (NIR, 850-940 nm; RGB linear) of the non-skin parts.
SCLERA = (0.75, (0.80, 0.78, 0.76))
IRIS = (0.32, (0.25, 0.15, 0.08))
PUPIL = (0.02, (0.02, 0.02, 0.02))
TEETH = (0.70, (0.75, 0.72, 0.65))
GUMS = (0.30, (0.45, 0.15, 0.15))
MOUTH_SOCKET = (0.05, (0.10, 0.03, 0.03))
LASHES = (0.06, (0.03, 0.03, 0.03))


@dataclass(frozen=True)
class ScannedIdentity:
    """A subject of the scanned model: shape coefficients and appearance.

    appearance: skin and hair tones, hairline and texture, drawn exactly as for the
        ellipsoid head (the ellipsoid's shape fields are unused here).
    beard: 0 none .. 1 dense stubble/beard darkening the lower face and upper lip.
    makeup: 0 none .. 1 dark eyeliner and eye shadow.
    freckles: share of face vertices with a darker spot.
    hair_volume_m: hair thickness above the scalp (the scalp moves outward by this much).
    """

    shape: tuple[float, ...]
    appearance: Identity
    beard: float = 0.0
    makeup: float = 0.0
    freckles: float = 0.0
    hair_volume_m: float = 0.0

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["kind"] = "scanned"
        d["shape"] = [round(float(v), 5) for v in self.shape]
        return d


def sample_scanned_identity(rng: np.random.Generator, n_modes: int) -> ScannedIdentity:
    """Appearance first (the same draws as an ellipsoid subject of the same seed), then the
    shape coefficients and the scanned head's extras."""
    appearance = sample_identity(rng)
    shape = np.clip(rng.standard_normal(n_modes), -IDENTITY_CLIP_SIGMA, IDENTITY_CLIP_SIGMA)
    u = rng.uniform
    beard = u(0.3, 1.0) if rng.random() < 0.25 else 0.0
    makeup = u(0.3, 1.0) if rng.random() < 0.2 else 0.0
    freckles = u(0.02, 0.12) if rng.random() < 0.15 else 0.0
    bald = appearance.hairline < -0.13
    return ScannedIdentity(tuple(float(v) for v in shape), appearance, beard, makeup, freckles,
                           0.0 if bald else u(0.0, 0.015))


def _rotation_to(v: np.ndarray) -> np.ndarray:
    """The smallest rotation taking +x to the unit vector v (Rodrigues)."""
    x = np.array([1.0, 0.0, 0.0])
    axis = np.cross(x, v)
    s, c = np.linalg.norm(axis), float(x @ v)
    if s < 1e-12:
        return np.eye(3)
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def _sphere_fit(p: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere through points [N, 3]: (centre, radius)."""
    a = np.column_stack([2 * p, np.ones(len(p))])
    sol, *_ = np.linalg.lstsq(a, (p * p).sum(1), rcond=None)
    c = sol[:3]
    return c, float(np.sqrt(sol[3] + c @ c))


class MeshHead:
    """One subject with one set of accessories. Per frame only the expression and the gaze
    change; the identity mesh, its normals' topology and its albedo are computed once."""

    skin_sheen = 0.06   # oily-skin specular highlight (the ellipsoid head has none)

    def __init__(self, model: ICTModel, identity: ScannedIdentity, accessories: Accessories | None = None) -> None:
        if len(identity.shape) > model.n_identity:
            raise HeadModelError(f"{model.path}: subject has {len(identity.shape)} shape coefficients, "
                                 f"the model {model.n_identity} identity modes")
        self.model = model
        self.scanned = identity
        self.identity = identity.appearance          # skin and hair tones for the body and shading
        self.accessories = accessories or Accessories()
        n = len(identity.shape)
        w = np.asarray(identity.shape, np.float32)
        base = model.neutral.astype(np.float32) + np.tensordot(w, model.identity[:n].astype(np.float32), 1)
        self.tris = np.ascontiguousarray(model.triangles, np.int64)
        self._base_h = self._to_h(base)
        self._jaw = self._delta_h("jawOpen")
        self._blink = self._delta_h("eyeBlink_R") + self._delta_h("eyeBlink_L")   # the two eyes move apart vertices
        self._jaw_per_weight = float(np.linalg.norm(self._jaw[model.ibug68[8]]))
        if self._jaw_per_weight < 1e-4:
            raise HeadModelError(f"{model.path}: jawOpen does not move the chin (iBUG 8); cannot open the mouth")
        # eyeballs: rigid vertex ranges turned about each eye's centre for the gaze
        self._eye_ranges = (model.part("Eyeball right"), model.part("Eyeball left"))
        self._eye_centres: list[np.ndarray] = []
        for lo, hi in self._eye_ranges:
            c, _ = _sphere_fit(self._base_h[lo:hi])
            self._eye_centres.append(np.ascontiguousarray(c))
        lm = self._base_h[model.ibug68]
        height = float(lm[8, 2] - self._base_h[:, 2].min())
        self.scale = height / ELLIPSOID_HEAD_HEIGHT_M
        ec = np.array(self._eye_centres)
        self.eye_y = float(np.abs(ec[:, 1]).mean())
        self.eye_z = float(ec[:, 2].mean())
        self.lens_x = float(ec[:, 0].mean()) + LENS_AHEAD_M * self.scale
        if identity.hair_volume_m > 0 and not self.accessories.cap:   # a cap presses the hair flat
            self._add_hair_volume(identity.hair_volume_m)
        p = Primitives()
        # breadth at eye level (with the ears) relative to the ellipsoid head's (0.077 m
        # half-width of the cranium, ears 1.8 cm beyond it): sizes the cap
        lo, hi = model.part("Face")[0], model.part("Head and Neck")[1]
        skin = self._base_h[lo:hi]
        level = np.abs(skin[:, 2] - self.eye_z) < 0.01
        breadth = float(np.ptp(skin[level, 1])) if level.sum() > 2 else 2 * (0.077 + 0.018) * self.scale
        head_width = breadth / (2 * (0.077 + 0.018)) / self.scale
        add_accessories(p, self.scale, float(np.clip(head_width, 0.85, 1.15)), self.accessories)
        self.prims = p
        self.i_hand, self.i_phone, self.i_cap, self.i_visor = accessory_indices(p)
        names = model.material_names
        eye_mats = [names.index(m) for m in ("M_ScleraLeft", "M_IrisLeft", "M_ScleraRight", "M_IrisRight") if m in names]
        self.tri_material = np.where(np.isin(model.triangle_material, eye_mats), EYE, SKIN).astype(np.int16)
        # Hidden-surface shortcuts, exact for what the camera can see: the outer skin is a
        # closed surface (its back faces are always behind its front faces), and with the
        # lips together nothing inside the mouth shows.
        outer = [names.index(x) for x in ("M_Face", "M_BackHead") if x in names]
        self.tri_cull = np.isin(model.triangle_material, outer)
        inside = np.zeros(model.neutral.shape[0], bool)
        for part in ("Gums and tongue", "Teeth"):
            lo, hi = model.part(part)
            inside[lo:hi] = True
        self._closed_mouth = ~inside[self.tris].all(axis=1)
        self._drawn = {True: (self.tris, self.tri_cull, self.tri_material),
                       False: (np.ascontiguousarray(self.tris[self._closed_mouth]), self.tri_cull[self._closed_mouth],
                               self.tri_material[self._closed_mouth])}
        self.texture = SkinTexture(identity.appearance.texture_seed, identity.appearance.texture_strength,
                                   identity.appearance.symmetric)
        self.expression = Expression()
        self._gaze = np.array([1.0, 0.0, 0.0])
        self._verts: np.ndarray | None = None
        self._normals: np.ndarray | None = None
        self._skin_normals = np.zeros_like(self._base_h)
        self._skin_normals_key: tuple[int, int] | None = None
        self._eye_normals0 = vertex_normals(self._base_h, self.tris)   # rest pose: eyes straight ahead

    # ---- geometry ----------------------------------------------------------------------
    @staticmethod
    def _to_h(p_ict: np.ndarray) -> np.ndarray:
        return ((np.asarray(p_ict, np.float64) - ICT_ORIGIN_CM) @ ICT_TO_H.T) * 0.01

    def _delta_h(self, name: str) -> np.ndarray:
        return np.ascontiguousarray((self.model.expression_delta(name).astype(np.float64) @ ICT_TO_H.T) * 0.01)

    def _add_hair_volume(self, thickness: float) -> None:
        """Hair stands off the scalp, thinning to nothing over the last 2 cm to the hairline."""
        above = self._above_hairline()
        taper = np.clip(above / 0.02, 0.0, 1.0)
        normals = vertex_normals(self._base_h, self.tris)
        self._base_h += (thickness * taper)[:, None] * normals

    def set_expression(self, expr: Expression) -> None:
        if expr != self.expression:
            self.expression = Expression(expr.mouth_open, expr.eye_closure)
            self._verts = None

    def set_gaze(self, gaze_h: np.ndarray) -> None:
        """Turn the eyeballs towards gaze_h (unit, H), within the eyes' range of motion."""
        g = np.asarray(gaze_h, float)
        g = g / np.linalg.norm(g)
        limit = np.cos(np.deg2rad(EYE_GAZE_LIMIT_DEG))
        if g[0] < limit:   # beyond the range: the eye stops at the limit in the same direction
            side = g[1:] / max(np.linalg.norm(g[1:]), 1e-12)
            g = np.array([limit, *(np.sqrt(1 - limit ** 2) * side)])
        if np.abs(g - self._gaze).max() > 1e-9:
            self._gaze = g
            self._verts = None

    def vertices(self) -> np.ndarray:
        """[V, 3] H-frame vertices for the current expression and gaze."""
        if self._verts is None:
            e = self.expression
            # mouth opening 1.0 = a JAW_DROP_M drop of the chin (scaled with the head, as on the
            # ellipsoid head); jawOpen at weight 1 drops it by the model's own amount
            jaw_w = float(np.clip(e.mouth_open * JAW_DROP_M * self.scale / self._jaw_per_weight, 0.0, 1.0))
            closure = float(np.clip(e.eye_closure, 0.0, 1.0))
            v = np.empty_like(self._base_h)
            (a0, a1), (b0, b1) = self._eye_ranges
            _deform(self._base_h, self._jaw, jaw_w, self._blink, closure, _rotation_to(self._gaze),
                    a0, a1, self._eye_centres[0], b0, b1, self._eye_centres[1], v)
            self._verts = v
            self._normals = None
        return self._verts

    def drawn_triangles(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(triangles [F, 3], cull flags [F], materials [F]) to draw this frame: teeth,
        gums and tongue only while the lips are apart."""
        return self._drawn[self.expression.mouth_open > MOUTH_SHUT]

    def normals(self) -> np.ndarray:
        """Vertex normals of the current mesh. Expressions never move the eyeballs and the
        gaze moves nothing else, so the skin's normals are recomputed only when the
        expression changes, and the eyeballs' are their rest normals turned with the gaze."""
        v = self.vertices()                  # resets the normals when the mesh changed
        if self._normals is None:
            # Normals are shading, not labels: those of an expression within 1/64 (0.3 mm
            # of jaw, 0.1 mm of lid) are reused, or a blink's continuous closure would
            # recompute them every frame.
            key = (round(self.expression.mouth_open * NORMALS_STEPS), round(self.expression.eye_closure * NORMALS_STEPS))
            if self._skin_normals_key != key:
                self._skin_normals = vertex_normals(v, self.tris)
                self._skin_normals_key = key
            n = self._skin_normals.copy()
            rot = _rotation_to(self._gaze)
            for lo, hi in self._eye_ranges:
                n[lo:hi] = self._eye_normals0[lo:hi] @ rot.T
            self._normals = n
        return self._normals

    def landmarks_3d(self) -> np.ndarray:
        """[68, 3] iBUG points in H: the model's landmark vertices, on the rendered surface."""
        return self.vertices()[self.model.ibug68].copy()

    # ---- accessories (ray-cast ellipsoids, as on the ellipsoid head) ------------------------
    def accessory_hits(self, origin: np.ndarray, dirs: np.ndarray, occluder: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest accessory hit of H-frame rays: (distance [N], primitive [N], -1 = miss)."""
        t = intersect(origin, dirs, self.prims, present_primitives(len(self.prims), self.i_hand, self.i_phone, occluder))
        t = reject_cap_edges(t, origin, dirs, self.i_cap, self.i_visor, self.scale)
        k = np.argmin(t, axis=0)
        tmin = t[k, np.arange(t.shape[1])]
        return tmin, np.where(np.isfinite(tmin), k, -1)

    def glasses(self, origin: np.ndarray, dirs: np.ndarray, t_hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return glasses_masks(origin, dirs, t_hit, self.accessories, self.scale, self.lens_x, self.eye_y, self.eye_z)

    # ---- appearance --------------------------------------------------------------------
    def hair_mask(self) -> np.ndarray:
        return self._above_hairline() > 0

    def _above_hairline(self) -> np.ndarray:
        """Height (m) of each vertex above the hairline, 0 off the scalp. The hairline runs
        from the forehead down to the nape, placed relative to the brows as on the
        ellipsoid head (whose brows are at z -0.03)."""
        idn, s = self.identity, self.scale
        lo, hi = self.model.part("Face")[0], self.model.part("Head and Neck")[1]
        v = self._base_h
        brow_z = float(v[self.model.ibug68[17:27], 2].mean())
        x, z = v[:, 0], v[:, 2]
        front_w = np.clip((x + 0.03 * s) / (0.1 * s), 0.0, 1.0)
        hairline = (brow_z + (idn.hairline + 0.03) * s) * front_w + (brow_z + (idn.hair_back + 0.03) * s) * (1 - front_w)
        above = np.zeros(len(v))
        above[lo:hi] = np.maximum(hairline[lo:hi] - z[lo:hi], 0.0)
        return above

    def vertex_albedo(self, rgb: bool) -> np.ndarray:
        return self._albedo_rgb if rgb else self._albedo_nir

    @cached_property
    def _albedo_nir(self) -> np.ndarray:
        return self._vertex_albedo(False)[:, 0]

    @cached_property
    def _albedo_rgb(self) -> np.ndarray:
        return self._vertex_albedo(True)

    def _vertex_albedo(self, rgb: bool) -> np.ndarray:
        """Per-vertex reflectance of the neutral face: skin with blotches, hair, brows, lips,
        lash line, beard, make-up, freckles, mask; eyes, teeth, gums, mouth, lashes."""
        idn, sid, acc, s, m = self.identity, self.scanned, self.accessories, self.scale, self.model
        v = self._base_h
        n = len(v)

        def tone(spec: tuple[float, tuple[float, float, float]]) -> np.ndarray:
            return np.asarray(spec[1] if rgb else [spec[0]], float)

        skin = np.asarray(idn.skin_rgb) if rgb else np.array([idn.skin_nir])
        hair = np.asarray(idn.hair_rgb) if rgb else np.array([idn.hair_nir])
        rng = np.random.default_rng(idn.texture_seed)
        q = v.copy()
        if idn.symmetric:
            q[:, 1] = np.abs(q[:, 1])
        # low-frequency blotches (a few cm), on top of the fine SkinTexture applied per pixel
        f = rng.uniform(15, 60, (4, 3)) * rng.choice([-1, 1], (4, 3))
        blotch = np.sin(q @ f.T + rng.uniform(0, 2 * np.pi, 4)).mean(1)
        out = skin[None] * (1.0 + 0.5 * idn.texture_strength * blotch)[:, None]
        lm = v[m.ibug68]
        front = v[:, 0] > lm[36:48, 0].min() - 0.03 * s
        yz = v[:, 1:]
        # lips: between the outer (48-59) and inner (60-67) lip contours, seen from the front
        lips = front & PolyPath(lm[48:60, 1:]).contains_points(yz, radius=-0.0005)
        out[lips] *= np.array([0.75, 0.55, 0.55]) if rgb else 0.85
        # beard: lower face below the nose base, outside the lips
        if sid.beard > 0:
            below_nose = v[:, 2] > lm[33, 2] + 0.003 * s
            jaw_side = np.abs(v[:, 1]) < np.abs(lm[2, 1]) * 1.02
            beard = front & below_nose & jaw_side & ~lips & (v[:, 2] < lm[8, 2] + 0.02 * s)
            stubble = 1.0 - 0.55 * sid.beard * (0.7 + 0.3 * rng.random(n))
            out[beard] *= stubble[beard, None]
        if sid.freckles > 0:
            spots = front & (rng.random(n) < sid.freckles)
            out[spots] *= 0.85
        # brows: a band along the brow landmarks (17-21, 22-26)
        for a, b in ((17, 22), (22, 27)):
            d = _polyline_distance(v, lm[a:b])
            out[front & (d < 0.0035 * s * idn.brow_thickness)] *= 0.45
        # lash line, stronger with make-up: along the upper lids (36-39, 42-45)
        for a in (36, 42):
            d = _polyline_distance(v, lm[a:a + 4])
            width = 0.0015 * s * (1 + 1.5 * sid.makeup)
            out[front & (d < width)] *= 0.5 - 0.25 * sid.makeup
            if sid.makeup > 0:
                shadow = front & (d < 0.008 * s) & (v[:, 2] < lm[a + 1, 2])
                out[shadow] *= 1.0 - 0.3 * sid.makeup
        hair_mask = self.hair_mask()
        out[hair_mask] = hair * (1.0 + 0.1 * blotch[hair_mask, None])
        if acc.mask:
            masked = front & (v[:, 2] > self.eye_z + 0.016 * s) & (np.abs(v[:, 1]) < 0.07 * s)
            out[masked] = np.array([0.8, 0.82, 0.85]) if rgb else 0.75
        # parts that are not skin
        for part, spec in (("Mouth socket", MOUTH_SOCKET), ("Gums and tongue", GUMS), ("Teeth", TEETH),
                           ("Eyelashes left", LASHES), ("Eyelashes right", LASHES)):
            lo, hi = m.part(part)
            out[lo:hi] = tone(spec)
        for part in ("Eye socket left", "Eye socket right"):
            lo, hi = m.part(part)
            out[lo:hi] *= 0.35
        for (lo, hi), c, iris_mat in zip(self._eye_ranges, self._eye_centres, ("M_IrisRight", "M_IrisLeft")):
            out[lo:hi] = tone(SCLERA)
            iris = m.material_vertices(iris_mat)
            if len(iris):
                axis = v[iris].mean(0) - c
                axis /= np.linalg.norm(axis)
                d = v[iris] - c
                ang = np.arccos(np.clip((d / np.linalg.norm(d, axis=1, keepdims=True)) @ axis, -1, 1))
                out[iris] = np.where((ang < 0.4 * ang.max())[:, None], tone(PUPIL), tone(IRIS))
        return out

    def accessory_albedo(self, material: np.ndarray, rgb: bool) -> np.ndarray:
        skin = np.asarray(self.identity.skin_rgb) if rgb else np.array([self.identity.skin_nir])
        out = accessory_albedo(material, skin, rgb)
        return out if rgb else out[:, 0]


@njit(cache=True, nogil=True)
def _deform(base: np.ndarray, jaw: np.ndarray, jaw_w: float, blink: np.ndarray, blink_w: float, rot: np.ndarray,
            a0: int, a1: int, ca: np.ndarray, b0: int, b1: int, cb: np.ndarray,
            out: np.ndarray) -> None:  # pragma: no cover - compiled
    """out = base + jaw_w * jaw + blink_w * blink, then the two eyeball ranges [a0, a1) and
    [b0, b1) turned by rot about their centres: one pass over the vertices."""
    for i in range(base.shape[0]):
        for k in range(3):
            out[i, k] = base[i, k] + jaw_w * jaw[i, k] + blink_w * blink[i, k]
    for lo, hi, c in ((a0, a1, ca), (b0, b1, cb)):
        for i in range(lo, hi):
            x, y, z = out[i, 0] - c[0], out[i, 1] - c[1], out[i, 2] - c[2]
            for k in range(3):
                out[i, k] = rot[k, 0] * x + rot[k, 1] * y + rot[k, 2] * z + c[k]


def _polyline_distance(p: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance of points [N, 3] to a polyline [K, 3]."""
    best = np.full(len(p), np.inf)
    for a, b in zip(line[:-1], line[1:]):
        ab = b - a
        t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
        best = np.minimum(best, np.linalg.norm(p - (a + t[:, None] * ab), axis=1))
    return best
