"""A parametric 3D head: identity, accessories, expression, the 68 landmarks, and albedo.

Head frame H (metres): the dms-head-v1 axes of the head itself: x out of the nose, y to the
right ear, z down; origin at the head centre, about the middle of the skull. Vertical
layout of the mean head (z): top of the skull -0.13, brows -0.03, eyes -0.008, nose tip
+0.028, mouth +0.066, chin +0.105 (a 24 cm head; anthropometric means, e.g. Farkas 1994).

The head is built from ellipsoids (synth.geometry). Eye openings are holes in the skull
surface through which the eyeballs show; closing the eyes shrinks the holes (the skin
around them is the eyelid). Landmarks are found by casting rays from in front of the face
onto the same surfaces, so they move with identity and expression and always lie on the
rendered surface.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from synth.geometry import Primitives, intersect, rotation_y

# Material ids (albedo and shading depend on them).
BACKGROUND, SKIN, EYE, CAP, HAND, PHONE, CLOTHING, SEAT = 0, 1, 2, 3, 4, 5, 6, 7
MATERIALS = ("background", "skin", "eye", "cap", "hand", "phone", "clothing", "seat")
FACE_MATERIALS = (SKIN, EYE)


@dataclass(frozen=True)
class Identity:
    """A subject's face. Scale factors are relative to the mean head (1.0); ranges in
    sample_identity follow adult anthropometric spread (about +-2 standard deviations)."""

    head_scale: float = 1.0
    head_width: float = 1.0
    jaw_width: float = 1.0
    jaw_length: float = 1.0
    nose_length: float = 1.0
    nose_width: float = 1.0
    nose_protrusion: float = 1.0
    eye_spacing: float = 1.0
    eye_size: float = 1.0
    brow_height: float = 0.0       # metres, + = higher
    brow_thickness: float = 1.0
    lip_width: float = 1.0
    lip_thickness: float = 1.0
    ear_size: float = 1.0
    skin_nir: float = 0.6          # NIR (850-940 nm) reflectance of skin: 0.45-0.75 whatever the tone
    skin_rgb: tuple[float, float, float] = (0.62, 0.45, 0.36)
    hair_nir: float = 0.3
    hair_rgb: tuple[float, float, float] = (0.12, 0.09, 0.07)
    hairline: float = -0.085       # z of the frontal hairline; bald heads: below -0.13
    hair_back: float = 0.02        # z down to which hair covers the back of the head
    texture_seed: int = 0
    texture_strength: float = 0.08
    symmetric: bool = False        # texture mirror-symmetric (for the mirror test)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# Skin tones (linear RGB albedo), light to dark, Fitzpatrick I-VI-like spread.
SKIN_TONES = np.array([[0.78, 0.60, 0.50], [0.70, 0.52, 0.42], [0.62, 0.45, 0.36],
                       [0.50, 0.34, 0.25], [0.36, 0.23, 0.16], [0.22, 0.14, 0.10]])


def sample_identity(rng: np.random.Generator) -> Identity:
    u = rng.uniform
    tone = int(rng.integers(len(SKIN_TONES)))
    bald = rng.random() < 0.1
    long_hair = rng.random() < 0.35
    hair_dark = u(0.05, 0.35)
    return Identity(
        head_scale=u(0.93, 1.07), head_width=u(0.92, 1.08), jaw_width=u(0.85, 1.12),
        jaw_length=u(0.9, 1.1), nose_length=u(0.85, 1.2), nose_width=u(0.8, 1.3),
        nose_protrusion=u(0.8, 1.25), eye_spacing=u(0.92, 1.08), eye_size=u(0.85, 1.15),
        brow_height=u(-0.004, 0.004), brow_thickness=u(0.7, 1.4), lip_width=u(0.85, 1.15),
        lip_thickness=u(0.7, 1.3), ear_size=u(0.85, 1.15),
        skin_nir=u(0.45, 0.75), skin_rgb=tuple(SKIN_TONES[tone] * u(0.92, 1.08, 3)),
        hair_nir=u(0.15, 0.5), hair_rgb=(hair_dark * 1.2, hair_dark, hair_dark * 0.8),
        hairline=-0.14 if bald else u(-0.095, -0.07), hair_back=u(0.04, 0.09) if long_hair else u(-0.02, 0.03),
        texture_seed=int(rng.integers(1 << 30)), texture_strength=u(0.04, 0.12),
    )


@dataclass(frozen=True)
class Accessories:
    """What the driver wears on a track. In-car test protocols (Euro NCAP DSM) include
    clear glasses, sunglasses (some NIR-opaque), caps and face masks."""

    glasses: str = "none"             # none | clear | sun
    sunglasses_nir: float = 0.7       # NIR transmittance: most sunglasses pass NIR, some block it
    cap: bool = False
    mask: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def sample_accessories(rng: np.random.Generator) -> Accessories:
    r = rng.random()
    glasses = "clear" if r < 0.25 else ("sun" if r < 0.37 else "none")
    return Accessories(glasses=glasses, sunglasses_nir=float(rng.choice([0.08, rng.uniform(0.5, 0.9)])),
                       cap=bool(rng.random() < 0.12), mask=bool(rng.random() < 0.06))


@dataclass
class Expression:
    mouth_open: float = 0.0   # 0..1, 1 = about 2 cm jaw drop
    eye_closure: float = 0.0  # 0..1, 1 = closed


JAW_DROP_M = 0.02      # full mouth opening moves the lower lip and chin ~2 cm
EYE_HALF_WIDTH = 0.0128
EYE_UPPER_OPEN = 0.0058   # aperture above the eye centre when open
EYE_LOWER = 0.0036        # aperture below the eye centre
LENS_X = 0.112            # glasses' lens plane, in front of the eyes (H frame x)
LENS_HALF = (0.025, 0.019)
RIM = 0.0025


def _sel(origin: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The origins of the masked rays: one shared origin [3], or per-ray origins [N, 3]."""
    return origin if origin.ndim == 1 else origin[mask]


class HeadModel:
    """The primitives, holes, landmarks and albedo of one subject with one set of
    accessories. Per frame only the expression changes (jaw drop, eye apertures)."""

    def __init__(self, identity: Identity, accessories: Accessories | None = None) -> None:
        self.identity = identity
        self.accessories = accessories or Accessories()
        idn, s = identity, identity.head_scale
        self.scale = s
        self.eye_y = 0.032 * idn.eye_spacing * s
        self.eye_z = -0.008 * s
        self.eye_r = 0.012 * idn.eye_size * s
        self.mouth_z = 0.066 * idn.jaw_length * s
        p = Primitives()
        p.add("cranium", (0.0, 0.0, -0.03 * s), (0.10 * s, 0.077 * s * idn.head_width, 0.10 * s), SKIN)
        # The face is flatter across the eyes and cheekbones than the skull: a shallow
        # ellipsoid over the mid-face (forehead to cheeks) keeps the eyes set in it.
        p.add("face", (0.05 * s, 0.0, -0.012 * s), (0.05 * s, 0.071 * s * idn.head_width, 0.075 * s), SKIN)
        self._jaw_center = np.array([0.02 * s, 0.0, 0.045 * s * idn.jaw_length])
        p.add("jaw", tuple(self._jaw_center), (0.064 * s, 0.06 * s * idn.jaw_width, 0.064 * s * idn.jaw_length), SKIN)
        nose_len = 0.03 * s * idn.nose_length
        p.add("nose", (0.09 * s + 0.004 * (idn.nose_protrusion - 1), 0.0, 0.016 * s),
              (0.024 * s * idn.nose_protrusion, 0.012 * s * idn.nose_width, nose_len), SKIN, rotation_y(-14.0))
        ear = (0.02 * s * idn.ear_size, 0.009 * s, 0.031 * s * idn.ear_size)
        for side, sign in (("ear_r", 1.0), ("ear_l", -1.0)):
            p.add(side, (-0.008 * s, sign * 0.074 * s * idn.head_width, -0.002 * s), ear, SKIN)
        for side, sign in (("eye_r", 1.0), ("eye_l", -1.0)):
            # Eyeball front ~1-2 mm behind the face surface; the socket behind it (darker,
            # wider) catches the rays that pass beside the eyeball through the opening.
            p.add(side, (0.0845 * s, sign * self.eye_y, self.eye_z), (self.eye_r,) * 3, EYE)
            p.add("socket" + side[3:], (0.081 * s, sign * self.eye_y, self.eye_z), (0.012 * s, 0.016 * s, 0.011 * s), SKIN)
        add_accessories(p, s, idn.head_width, self.accessories)
        self.prims = p
        self.i_cranium, self.i_jaw = p.index("cranium"), p.index("jaw")
        self.i_holed = (p.index("cranium"), p.index("face"))  # surfaces the eye openings cut
        self.i_eyes = (p.index("eye_r"), p.index("eye_l"))
        self.i_sockets = (p.index("socket_r"), p.index("socket_l"))
        self.i_hand, self.i_phone, self.i_cap, self.i_visor = accessory_indices(p)
        self.face_prims = np.array([i for i, n in enumerate(p.names) if n in
                                    ("cranium", "face", "jaw", "nose", "ear_r", "ear_l", "eye_r", "eye_l",
                                     "socket_r", "socket_l")])
        self.expression = Expression()
        self._brow_yz = (self.landmark_template()[17:22, 0].copy(), self.landmark_template()[17:22, 1].copy())
        self.texture = SkinTexture(identity.texture_seed, identity.texture_strength, identity.symmetric)

    # ---- geometry per frame --------------------------------------------------------------
    def set_expression(self, expr: Expression) -> None:
        """The jaw drops with the mouth (moves the chin and lower-lip surfaces)."""
        self.expression = expr
        self.prims.center[self.i_jaw] = self._jaw_center + [0.0, 0.0, 0.6 * JAW_DROP_M * expr.mouth_open * self.scale]

    def eye_aperture(self, closure: float) -> tuple[float, float]:
        """(upper, lower) z of the eye opening relative to the eye centre (z down)."""
        s = self.scale * self.identity.eye_size
        lower = EYE_LOWER * s
        upper = -EYE_UPPER_OPEN * s + (EYE_UPPER_OPEN * s + lower) * float(np.clip(closure, 0, 1))
        return upper, lower

    def active(self, occluder: int) -> np.ndarray:
        """Primitives present this frame: occluders only when the track has them
        (OCCLUDERS codes: 1 hand, 2 phone)."""
        return present_primitives(len(self.prims), self.i_hand, self.i_phone, occluder)

    def intersect(self, origin: np.ndarray, dirs: np.ndarray, occluder: int = 0) -> np.ndarray:
        """Hit distances [P, N] of H-frame rays with the primitives that are there."""
        t = intersect(origin, dirs, self.prims, self.active(occluder))
        return self.rejected(t, origin, dirs)

    def rejected(self, t: np.ndarray, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Set to inf the hits that are not there: the eye openings in the skull and the
        cap's cut edges."""
        t = t.copy()
        for i in self.i_holed:
            finite = np.isfinite(t[i])
            if finite.any():
                pts = _sel(origin, finite) + t[i, finite, None] * dirs[finite]
                t[i, np.flatnonzero(finite)[self.in_eye_opening(pts)]] = np.inf
        return reject_cap_edges(t, origin, dirs, self.i_cap, self.i_visor, self.scale)

    def in_eye_opening(self, pts: np.ndarray) -> np.ndarray:
        """Points (on the skull, front) inside either eye's opening: the skull is open there."""
        upper, lower = self.eye_aperture(self.expression.eye_closure)
        half_h = (lower - upper) / 2
        if half_h <= 1e-5:
            return np.zeros(len(pts), bool)
        zc = self.eye_z + (upper + lower) / 2
        hw = EYE_HALF_WIDTH * self.scale * self.identity.eye_size
        out = np.zeros(len(pts), bool)
        front = pts[:, 0] > 0.05 * self.scale
        for sign in (1.0, -1.0):
            dy = (pts[:, 1] - sign * self.eye_y) / hw
            dz = (pts[:, 2] - zc) / half_h
            out |= front & (dy * dy + dz * dz < 1.0)
        return out

    def cast(self, origin: np.ndarray, dirs: np.ndarray, occluder: int = 0,
             only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest hit (distance [N], primitive [N], -1 = miss) of rays in the H frame."""
        t = self.intersect(origin, dirs, occluder)
        if only is not None:
            mask = np.full(len(self.prims), np.inf)
            mask[only] = 0.0
            t = t + mask[:, None]
        k = np.argmin(t, axis=0)
        tmin = t[k, np.arange(t.shape[1])]
        return tmin, np.where(np.isfinite(tmin), k, -1)

    # ---- landmarks -------------------------------------------------------------------
    def landmark_template(self) -> np.ndarray:
        """(y, z) of the 68 iBUG points on the frontal face, for this identity and expression."""
        idn, s = self.identity, self.scale
        expr = self.expression
        drop = JAW_DROP_M * expr.mouth_open * s
        yz = np.zeros((68, 2))
        # jaw 0..16: from the right ear (subject's right, y > 0) round the chin to the left
        phi = np.linspace(0.0, np.pi, 17)
        jaw_w = 0.067 * s * (0.5 * idn.jaw_width + 0.5 * idn.head_width)
        yz[0:17, 0] = jaw_w * np.cos(phi) * (1.0 - 0.25 * np.sin(phi) ** 2)
        chin = 0.104 * s * idn.jaw_length
        yz[0:17, 1] = -0.004 * s + (chin + 0.004 * s) * np.sin(phi) ** 1.3 + drop * np.sin(phi) ** 4
        # brows 17..21 (right, outer -> inner), 22..26 (left, inner -> outer)
        bz = -0.03 * s - idn.brow_height
        arch = np.array([0.0, -0.004, -0.006, -0.005, -0.002]) * s
        by = np.array([0.057, 0.047, 0.036, 0.025, 0.013]) * s * idn.eye_spacing
        yz[17:22] = np.column_stack([by, bz + arch])
        yz[22:27] = np.column_stack([-by[::-1], bz + arch[::-1]])
        # nose bridge 27..30 and base 31..35
        tip = 0.028 * s * idn.nose_length
        yz[27:31] = np.column_stack([np.zeros(4), np.linspace(-0.012 * s, tip, 4)])
        nw = 0.016 * s * idn.nose_width
        yz[31:36] = np.column_stack([[nw, nw / 2, 0, -nw / 2, -nw], tip + np.array([0.01, 0.013, 0.015, 0.013, 0.01]) * s])
        # eyes 36..41 (right: outer, upper outer, upper inner, inner, lower inner, lower outer)
        upper, lower = self.eye_aperture(expr.eye_closure)
        hw = EYE_HALF_WIDTH * s * idn.eye_size
        for base, sign, order in ((36, 1.0, (1, 0.35, -0.35, -1, -0.35, 0.35)),
                                  (42, -1.0, (1, 0.35, -0.35, -1, -0.35, 0.35))):
            ys = np.array(order) * hw
            zs = np.array([0, upper, upper, 0, lower, lower]) + self.eye_z
            if sign > 0:   # right eye: 36 is the outer corner (further right, larger y)
                yz[base:base + 6] = np.column_stack([self.eye_y + ys, zs])
            else:          # left eye: 42 is the inner corner
                yz[base:base + 6] = np.column_stack([-self.eye_y + ys, zs])
        # mouth: outer 48..59, inner 60..67
        mz, lw, lt = self.mouth_z, 0.025 * s * idn.lip_width, 0.008 * s * idn.lip_thickness
        gap = 0.018 * expr.mouth_open * s
        outer_y = np.array([1, 0.6, 0.25, 0, -0.25, -0.6, -1, -0.6, -0.25, 0, 0.25, 0.6]) * lw
        outer_z = mz + np.array([0, -0.7, -1, -0.85, -1, -0.7, 0, 0.9, 1.1, 1.15, 1.1, 0.9]) * lt
        outer_z[7:12] += gap
        yz[48:60] = np.column_stack([outer_y, outer_z])
        inner_y = np.array([0.8, 0.35, 0, -0.35, -0.8, -0.35, 0, 0.35]) * lw
        inner_z = mz + np.array([0, -0.2, -0.2, -0.2, 0, 0.2, 0.2, 0.2]) * lt
        inner_z[5:8] += gap
        yz[60:68] = np.column_stack([inner_y, inner_z])
        return yz

    def landmarks_3d(self) -> np.ndarray:
        """[68, 3] points in H on the face surface: rays from in front of the face along -x."""
        yz = self.landmark_template()
        origins = np.column_stack([np.full(68, 0.5), yz])
        dirs = np.tile([-1.0, 0.0, 0.0], (68, 1))
        t, _ = self.cast(origins, dirs, only=self.face_prims)
        t = np.where(np.isfinite(t), t, 0.5)  # a point off the surface stays at the face plane
        return origins + t[:, None] * dirs

    # ---- appearance ------------------------------------------------------------------
    def albedo(self, pts: np.ndarray, prim: np.ndarray, gaze_h: np.ndarray, rgb: bool) -> np.ndarray:
        """Reflectance [N] (NIR) or [N, 3] (RGB) of head-frame hit points on head primitives."""
        idn, acc, s = self.identity, self.accessories, self.scale
        n = len(pts)
        skin = np.asarray(idn.skin_rgb) if rgb else np.array([idn.skin_nir])
        hair = np.asarray(idn.hair_rgb) if rgb else np.array([idn.hair_nir])
        out = np.tile(skin, (n, 1)) * self.texture(pts)[:, None]
        x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
        names = self.prims.names
        is_cranium = np.isin(prim, self.i_holed)
        # hair: above a hairline that runs from the forehead down to the nape
        front_w = np.clip((x + 0.03 * s) / (0.1 * s), 0.0, 1.0)
        hairline = idn.hairline * s * front_w + idn.hair_back * s * (1 - front_w)
        hair_mask = (prim == self.i_cranium) & (z < hairline)
        out[hair_mask] = hair * self.texture(pts[hair_mask] * 3.0)[:, None]
        # brows: dark bands above the eyes (they do not move with the expression)
        brow_y, brow_z = self._brow_yz
        ay = np.abs(y)
        on_brow = is_cranium & (x > 0.06 * s) & (ay > brow_y.min() - 0.002) & (ay < brow_y.max() + 0.002)
        bz = np.interp(ay, brow_y[::-1], brow_z[::-1])
        on_brow &= np.abs(z - bz) < 0.0035 * s * idn.brow_thickness
        out[on_brow] *= 0.45
        # lash line: darker rim around the eye openings (upper lid)
        upper, lower = self.eye_aperture(self.expression.eye_closure)
        hw = EYE_HALF_WIDTH * s * idn.eye_size
        for sign in (1.0, -1.0):
            dy = (y - sign * self.eye_y) / (hw * 1.12)
            lid = is_cranium & (x > 0.05 * s) & (dy * dy < 1) & (np.abs(z - (self.eye_z + upper * np.sqrt(np.clip(1 - dy * dy, 0, 1)))) < 0.0015 * s)
            out[lid] *= 0.5
        # lips and the open mouth
        mouth = (prim == self.i_jaw) | (prim == names.index("nose"))
        lw, lt = 0.026 * s * idn.lip_width, 0.009 * s * idn.lip_thickness
        gap = 0.018 * self.expression.mouth_open * s
        mz = self.mouth_z + gap / 2
        ey, ez = y / lw, (z - mz) / (lt + gap / 2 + lt)
        on_lip = mouth & (x > 0.05 * s) & (ey * ey + ez * ez < 1.0)
        lip_tone = np.array([0.75, 0.55, 0.55]) if rgb else np.array([0.85])
        out[on_lip] *= lip_tone
        if gap > 0.001:
            iz = (z - mz) / (gap / 2)
            inside = on_lip & ((y / (0.8 * lw)) ** 2 + iz * iz < 1.0)
            out[inside] = 0.03
        if acc.mask:
            masked = ((prim == self.i_jaw) | (prim == names.index("nose")) | is_cranium) & (x > 0.0) \
                & (z > self.eye_z + 0.016 * s) & (np.abs(y) < 0.07 * s)
            out[masked] = np.array([0.8, 0.82, 0.85]) if rgb else 0.75
        # eyes: sclera, iris and pupil around the gaze direction
        for i_eye in self.i_eyes:
            on = prim == i_eye
            if on.any():
                d = pts[on] - self.prims.center[i_eye]
                d /= np.linalg.norm(d, axis=1, keepdims=True)
                cosang = d @ gaze_h
                val = np.where(cosang > np.cos(0.17), 0.02, np.where(cosang > np.cos(0.5), 0.32 if not rgb else 0.0, 0.75))
                if rgb:
                    iris = np.array([0.25, 0.15, 0.08])
                    col = np.where((cosang > np.cos(0.17))[:, None], 0.02,
                                   np.where((cosang > np.cos(0.5))[:, None], iris, np.array([0.8, 0.78, 0.76])))
                    out[on] = col
                else:
                    out[on] = val[:, None]
        out[np.isin(prim, self.i_sockets)] *= 0.35
        mat = self.prims.material[prim]
        acc_mat = np.isin(mat, (CAP, PHONE, HAND))
        out[acc_mat] = accessory_albedo(mat[acc_mat], skin, rgb)
        return out if rgb else out[:, 0]

    def glasses(self, origin: np.ndarray, dirs: np.ndarray, t_hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where rays cross the lenses (in front of whatever they hit): (lens [N], rim [N])."""
        return glasses_masks(origin, dirs, t_hit, self.accessories, self.scale, LENS_X * self.scale,
                             self.eye_y, self.eye_z)


class SkinTexture:
    """Skin/hair reflectance variation: a few 3D sinusoids (pores, blotches, shading
    detail) seeded per subject; cheap and smooth, evaluated on the surface point (H)."""

    def __init__(self, seed: int, strength: float, symmetric: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.freq = rng.uniform(60, 400, (6, 3)) * rng.choice([-1, 1], (6, 3))
        self.phase = rng.uniform(0, 2 * np.pi, 6)
        self.amp = rng.uniform(0.3, 1.0, 6)
        self.strength = strength
        self.symmetric = symmetric

    def __call__(self, pts: np.ndarray) -> np.ndarray:
        q = pts.copy()
        if self.symmetric:
            q[:, 1] = np.abs(q[:, 1])
        v = np.sin(q @ self.freq.T + self.phase) @ self.amp / self.amp.sum()
        return 1.0 + self.strength * v


def accessory_albedo(material: np.ndarray, skin: np.ndarray, rgb: bool) -> np.ndarray:
    """Reflectance [N, 3] (RGB) or [N, 1] (NIR) of cap, phone and hand hits."""
    out = np.zeros((len(material), 3 if rgb else 1))
    out[material == CAP] = np.array([0.2, 0.25, 0.4]) if rgb else 0.35
    out[material == PHONE] = 0.05
    out[material == HAND] = skin * 1.05
    return out


def add_accessories(p: Primitives, s: float, head_width: float, accessories: Accessories) -> None:
    """The cap (with its visor) and the occluders, sized for a head of scale s: shared by the
    ellipsoid head and the scanned one, so both wear the same things."""
    if accessories.cap:
        p.add("cap", (0.0, 0.0, -0.036 * s), (0.107 * s, 0.083 * s * head_width, 0.104 * s), CAP)
        p.add("visor", (0.105 * s, 0.0, -0.07 * s), (0.07 * s, 0.086 * s, 0.007 * s), CAP, rotation_y(12.0))
    # Occluders move with the head (a hand held to the face, a phone held in front).
    p.add("hand", (0.128 * s, 0.02 * s, 0.062 * s), (0.03 * s, 0.052 * s, 0.068 * s), HAND)
    p.add("phone", (0.165 * s, -0.015 * s, 0.07 * s), (0.005 * s, 0.037 * s, 0.076 * s), PHONE)


def present_primitives(n: int, i_hand: int, i_phone: int, occluder: int) -> np.ndarray:
    """[n] bool: every primitive, but the hand and the phone only in frames whose occluder
    code (synth.track.OCCLUDERS: 1 hand, 2 phone) puts them there."""
    on = np.ones(n, bool)
    on[i_hand] = occluder == 1
    on[i_phone] = occluder == 2
    return on


def accessory_indices(p: Primitives) -> tuple[int, int, int, int]:
    """(hand, phone, cap, visor) primitive indices; -1 for a cap that is not worn."""
    cap = p.index("cap") if "cap" in p.names else -1
    visor = p.index("visor") if "visor" in p.names else -1
    return p.index("hand"), p.index("phone"), cap, visor


def reject_cap_edges(t: np.ndarray, origin: np.ndarray, dirs: np.ndarray, i_cap: int, i_visor: int,
                     s: float) -> np.ndarray:
    """The cap is the top of an ellipsoid and the visor its front part: cut the rest."""
    if i_cap >= 0:
        for i, keep in ((i_cap, lambda q: q[:, 2] < -0.058 * s - 0.25 * np.maximum(q[:, 0], 0)),
                        (i_visor, lambda q: q[:, 0] > 0.07 * s)):
            fin = np.isfinite(t[i])
            if fin.any():
                q = _sel(origin, fin) + t[i, fin, None] * dirs[fin]
                t[i, np.flatnonzero(fin)[~keep(q)]] = np.inf
    return t


def glasses_masks(origin: np.ndarray, dirs: np.ndarray, t_hit: np.ndarray, accessories: Accessories,
                  s: float, lens_x: float, eye_y: float, eye_z: float) -> tuple[np.ndarray, np.ndarray]:
    """Where H-frame rays cross the lenses (in front of whatever they hit): returns
    (lens mask [N], rim mask [N]). Lenses are ellipses in the plane x = lens_x, centred on
    the eyes (y = +-eye_y, z = eye_z)."""
    n = len(dirs)
    if accessories.glasses == "none":
        return np.zeros(n, bool), np.zeros(n, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (lens_x - origin[0]) / dirs[:, 0]
    ok = (t > 0) & (t < t_hit)
    q = origin[None] + t[:, None] * dirs
    lens = np.zeros(n, bool)
    rim = np.zeros(n, bool)
    ax, az = LENS_HALF[0] * s, LENS_HALF[1] * s
    for sign in (1.0, -1.0):
        dy = (q[:, 1] - sign * eye_y) / ax
        dz = (q[:, 2] - eye_z) / az
        r = np.sqrt(dy * dy + dz * dz)
        lens |= ok & (r < 1.0)
        rim |= ok & (r >= 1.0) & (r < 1.0 + RIM * s / az)
    bridge = ok & (np.abs(q[:, 1]) < eye_y - ax) & (np.abs(q[:, 2] - eye_z + 0.006 * s) < 0.0015 * s)
    return lens & ~rim, rim | bridge
