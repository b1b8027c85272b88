"""Rendering a driver in a cabin by ray casting: full frames and face-centred crops.

One routine renders any set of pixel rays, so a crop is rendered directly at crop
resolution (the rays through the crop window's pixel centres) instead of rendering a full
frame and resampling it: the patent's scale (half a million frames) is then affordable on
two CPU cores.

Light (near-infrared default): an active IR illuminator beside the lens (irradiance falls
off with the square of the distance, which is why IR cabin images show a bright face on a
dark background), plus sunlight through the windows (none at night, directional and
partly shadowed in harsh sun) and ambient skylight. RGB mode drops the illuminator (the
IR-cut filter) and uses colour albedos.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from synth.camera import Camera
from synth.geometry import Primitives, intersect, normals
from synth.head import CLOTHING, EYE, FACE_MATERIALS, PHONE, SEAT, SKIN, Expression, HeadModel

if TYPE_CHECKING:
    from synth.mesh_head import MeshHead

# Where the head pivots (neck, near C1/C7), H frame at neutral: turning the head moves its
# centre, as a real head does (Ferrario et al. 2002: cervical rotation axes below the skull).
NECK_PIVOT_V = np.array([-0.03, 0.0, 0.10])
# Cabin interior as a box in V (metres): rear window to windshield, door to passenger side,
# roof to floor, for a mid-size car with the driver's head at the origin.
CABIN_MIN = np.array([-1.3, -0.72, -0.5])
CABIN_MAX = np.array([1.1, 1.05, 0.65])
LED_REFERENCE_M = 0.65   # the illuminator is specified to light a face at 0.65 m to 1.0
# DMS IR illuminators are narrow-beam 850/940 nm LEDs aimed at the head box (half power at
# about 20-25 degrees, e.g. OSRAM SFH 4725AS-class emitters): the cabin outside the beam
# stays dark, which is the look of a night-time DMS image.
LED_BEAM_EXPONENT = 8.0
LENS_DISTANCE_M = 0.6    # glasses are about this far from the camera: where lens glints are shaded  # cos^8: half power at ~23 degrees off the beam axis


@dataclass
class Lighting:
    """One track's light. Intensities are relative to the IR illuminator on a frontal face
    at LED_REFERENCE_M."""

    kind: str = "night"                  # night | overcast | day | harsh_sun
    led: float = 1.0                     # IR illuminator strength (0 in RGB mode)
    sun: float = 0.0                     # direct sun on the driver
    sun_dir: tuple[float, float, float] = (0.3, 0.8, 0.5)  # direction the light travels, V
    ambient: float = 0.03
    window: float = 0.02                 # brightness of what is seen through the windows
    shadow_period_m: float = 0.15        # moving shadows (trees, poles) across the sunlit cabin
    shadow_speed: float = 0.6            # m/s of the shadow pattern
    shadow_duty: float = 0.5
    exposure: float = 0.45               # auto-exposure target: face median after exposure

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


LIGHTING_KINDS = ("night", "overcast", "day", "harsh_sun")


def sample_lighting(rng: np.random.Generator, rgb: bool, kind: str | None = None) -> Lighting:
    """Night (IR only) to harsh sun. Shares chosen so that a quarter of tracks is night and
    a fifth harsh sun, the conditions DMS fail in most."""
    kind = kind or str(rng.choice(LIGHTING_KINDS, p=[0.25, 0.25, 0.3, 0.2]))
    sun_dir = rng.normal(0, 1, 3) * [0.6, 1.0, 0.4] + [0.2, 0.0, 0.6]
    sun_dir /= np.linalg.norm(sun_dir)
    u = rng.uniform
    sun, ambient, window = {
        "night": (0.0, u(0.0, 0.02), u(0.0, 0.05)),
        "overcast": (u(0.0, 0.1), u(0.15, 0.35), u(0.5, 1.0)),
        "day": (u(0.3, 1.0), u(0.15, 0.4), u(1.0, 2.0)),
        "harsh_sun": (u(2.0, 5.0), u(0.2, 0.5), u(2.5, 5.0)),
    }[kind]
    if rgb and kind == "night":
        ambient = u(0.05, 0.12)   # an RGB camera at night relies on cabin and street light
    return Lighting(kind=kind, led=0.0 if rgb else u(0.7, 1.3), sun=sun,
                    sun_dir=tuple(sun_dir), ambient=ambient, window=window,
                    shadow_period_m=u(0.05, 0.4), shadow_speed=u(0.2, 2.0), shadow_duty=u(0.3, 0.8),
                    exposure=u(0.35, 0.55))


def body_primitives(seat_offset: np.ndarray) -> Primitives:
    """Vehicle-fixed neck, torso and seat (V frame): context around the head in crops."""
    o = np.asarray(seat_offset, float)
    p = Primitives()
    p.add("neck", tuple(o + [-0.025, 0.0, 0.17]), (0.045, 0.048, 0.09), SKIN)
    p.add("torso", tuple(o + [-0.06, 0.0, 0.42]), (0.12, 0.24, 0.20), CLOTHING)
    p.add("headrest", tuple(o + [-0.2, 0.0, -0.03]), (0.05, 0.14, 0.09), SEAT)
    p.add("seat_back", tuple(o + [-0.24, 0.0, 0.36]), (0.08, 0.27, 0.33), SEAT)
    return p


@dataclass
class FrameState:
    """What changes per frame."""

    r_head_v: np.ndarray              # [3, 3] head rotation in V
    gaze_v: np.ndarray                # [3] unit gaze direction in V
    expression: Expression = field(default_factory=Expression)
    occluder: int = 0
    time: float = 0.0


@dataclass
class Scene:
    """What is fixed over a track: who, what they wear, where the camera is, the light."""

    camera: Camera
    head: HeadModel | MeshHead
    lighting: Lighting
    seat_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rgb: bool = False
    led_offset: tuple[float, float, float] = (0.0, 0.03, 0.0)   # illuminator beside the lens (V)

    def __post_init__(self) -> None:
        self.body = body_primitives(self.seat_offset)
        self._background: np.ndarray | None = None
        self.led_pos = self.camera.position + np.asarray(self.led_offset, float)
        aim = self.seat_offset - self.led_pos
        self.led_axis = aim / np.linalg.norm(aim)
        sd = np.asarray(self.lighting.sun_dir, float)
        self.sun_dir = sd / np.linalg.norm(sd)

    def head_position(self, r_head_v: np.ndarray) -> np.ndarray:
        """Head centre in V: the head rotates about the neck pivot, plus the seat offset."""
        return self.seat_offset + NECK_PIVOT_V + r_head_v @ (-NECK_PIVOT_V)

    # ---- rays ------------------------------------------------------------------------
    def background(self) -> np.ndarray:
        """The static part of the picture, rendered once per track at full resolution:
        cabin, neck, torso and seat are fixed in the vehicle and never occlude the head
        (the camera looks at the face from the front), so per frame only the head is
        ray-cast and composited over this. Linear radiance, [h, w] or [h, w, 3], float32."""
        if self._background is None:
            w, h = self.camera.size
            u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
            dirs = self.camera.rays(u.ravel(), v.ravel())
            t = intersect(self.camera.position, dirs, self.body)
            k = np.argmin(t, axis=0)
            tmin = t[k, np.arange(len(dirs))]
            hit = np.isfinite(tmin)
            rad = np.zeros((len(dirs), 3) if self.rgb else len(dirs))
            if hit.any():
                pts = self.camera.position + tmin[hit, None] * dirs[hit]
                normal = normals(pts, k[hit], self.body)
                mat = self.body.material[k[hit]]
                full_n = np.zeros((len(dirs), 3))
                full_n[hit] = normal
                full_p = np.zeros((len(dirs), 3))
                full_p[hit] = pts
                alb = np.zeros_like(rad)
                alb[hit] = self._body_albedo(mat, pts)
                rad = self._shade(alb, full_n, full_p, dirs, np.zeros(len(dirs), np.int16), hit, 0.0)
            rad[~hit] = self._cabin(dirs[~hit], 0.0)
            self._background = rad.reshape((h, w, 3) if self.rgb else (h, w)).astype(np.float32)
        return self._background

    def render_rays(self, dirs_v: np.ndarray, frame: FrameState) -> dict[str, np.ndarray]:
        """The head (with its accessories and occluders) for rays from the camera centre.
        Returns radiance (linear, before exposure; 0 where the head is missed), the hit
        mask, material, depth and the face mask. Ellipsoid heads only: a mesh head is
        rasterised per window (render_window)."""
        head = self.head
        assert isinstance(head, HeadModel), "a mesh head renders through render_window"
        head.set_expression(frame.expression)
        r = frame.r_head_v
        o_h = r.T @ (self.camera.position - self.head_position(r))
        d_h = dirs_v @ r                      # rows: r.T @ d
        t_head = head.intersect(o_h, d_h, frame.occluder)
        k = np.argmin(t_head, axis=0)
        n_rays = len(dirs_v)
        t = t_head[k, np.arange(n_rays)]
        hit = np.isfinite(t)
        rgb = self.rgb
        radiance = np.zeros((n_rays, 3) if rgb else n_rays)
        material = np.zeros(n_rays, np.int16)
        if hit.any():
            idx = k[hit]
            p_h = o_h + t[hit, None] * d_h[hit]
            albedo = head.albedo(p_h, idx, r.T @ frame.gaze_v, rgb)
            normal_v = normals(p_h, idx, head.prims) @ r.T
            material[hit] = head.prims.material[idx]
            points_v = self.camera.position + t[hit, None] * dirs_v[hit]
            radiance[hit] = self._shade(albedo, normal_v, points_v, dirs_v[hit], material[hit],
                                        np.ones(len(idx), bool), frame.time)
        # glasses in front of whatever the ray meets (the head, or the cabin behind it)
        lens, rim = head.glasses(o_h, d_h, np.where(hit, t, np.inf))
        return {"radiance": radiance, "hit": hit, "material": material, "depth": np.where(hit, t, np.inf),
                "face": hit & np.isin(material, FACE_MATERIALS), "lens": lens, "rim": rim, "dirs": dirs_v,
                "d_h": d_h, "r": r}

    def _body_albedo(self, mat: np.ndarray, pts: np.ndarray) -> np.ndarray:
        idn = self.head.identity
        if self.rgb:
            table = {SKIN: np.asarray(idn.skin_rgb), CLOTHING: np.array([0.15, 0.2, 0.35]), SEAT: np.array([0.08, 0.08, 0.09])}
        else:
            table = {SKIN: np.array([idn.skin_nir]), CLOTHING: np.array([0.45]), SEAT: np.array([0.18])}
        out = np.stack([table[int(m)] for m in mat]) if len(mat) else np.zeros((0, 3 if self.rgb else 1))
        weave = 1.0 + 0.05 * np.sin(pts[:, 0] * 300) * np.sin(pts[:, 1] * 310)
        out = out * weave[:, None]
        return out if self.rgb else out[:, 0]

    def _sun_visible(self, pts: np.ndarray, time: float) -> np.ndarray:
        """Moving hard shadows over the sunlit cabin (trees, poles, the car's pillars)."""
        lt = self.lighting
        u = pts @ np.array([0.8, 0.6, 0.0]) + lt.shadow_speed * time
        return ((u / lt.shadow_period_m) % 1.0) < lt.shadow_duty

    def _shade(self, albedo: np.ndarray, n: np.ndarray, p: np.ndarray, d: np.ndarray,
               material: np.ndarray, hit: np.ndarray, time: float, sun_lit: np.ndarray | None = None,
               sheen: float = 0.0) -> np.ndarray:
        """Radiance of surface points. sun_lit: which points the sun reaches past the head
        itself (a shadow map; None = no self-shadowing). sheen: weight of a broad specular
        highlight on skin (skin oil), for heads whose surface is detailed enough to show it."""
        lt = self.lighting
        to_led = self.led_pos - p
        r2 = np.maximum(np.einsum("ni,ni->n", to_led, to_led), 1e-4)
        l_led = to_led / np.sqrt(r2)[:, None]
        beam = np.clip(-(l_led @ self.led_axis), 0, 1) ** LED_BEAM_EXPONENT
        e = lt.led * LED_REFERENCE_M ** 2 * beam * np.clip(np.einsum("ni,ni->n", n, l_led), 0, None) / r2
        if lt.sun > 0:
            sun = np.clip(n @ (-self.sun_dir), 0, None) * self._sun_visible(p, time)
            if sun_lit is not None:
                sun = sun * sun_lit
            e = e + lt.sun * sun
        e = e + lt.ambient * (0.6 + 0.4 * np.clip(-n[:, 2], -1, 1))
        rad = albedo * (e[:, None] if self.rgb else e)
        # specular glints: the illuminator's reflection in the eyes (corneal glint), and sun
        view = -d
        spec_w = np.where(material == EYE, 2.0, np.where(material == PHONE, 0.5, 0.0))
        if lt.led > 0:
            h = l_led + view
            h /= np.linalg.norm(h, axis=1, keepdims=True)
            n_h = np.clip(np.einsum("ni,ni->n", n, h), 0, 1)
            spec = spec_w * n_h ** 200 * lt.led * LED_REFERENCE_M ** 2 / r2
            if sheen > 0:
                spec = spec + sheen * (material == SKIN) * n_h ** 24 * lt.led * LED_REFERENCE_M ** 2 / r2
            rad = rad + (spec[:, None] if self.rgb else spec)
        return np.where(hit[:, None] if self.rgb else hit, rad, 0.0)

    def _cabin(self, dirs: np.ndarray, time: float) -> np.ndarray:
        """What the ray sees when it misses the driver: the cabin box, windows emitting the
        outside light, surfaces lit by the illuminator (falling off with distance)."""
        lt = self.lighting
        o = self.camera.position
        with np.errstate(divide="ignore", invalid="ignore"):
            tb = np.where(dirs > 0, (CABIN_MAX - o) / dirs, (CABIN_MIN - o) / dirs)
        tb = np.where(np.isfinite(tb) & (tb > 0), tb, np.inf)
        face = np.argmin(tb, axis=1)
        t = tb[np.arange(len(dirs)), face]
        p = o + t[:, None] * dirs
        sign = np.sign(dirs[np.arange(len(dirs)), face])
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        window = np.zeros(len(dirs), bool)
        window |= (face == 0) & (sign > 0) & (z < 0.12)                       # windshield
        window |= (face == 0) & (sign < 0) & (z < 0.0) & (np.abs(y - 0.15) < 0.5)  # rear window
        side = (face == 1) & (z < 0.05) & (x > -0.8) & (x < 0.8) & ~((x > -0.35) & (x < -0.2))  # B-pillar
        window |= side
        albedo = np.where(face == 2, np.where(sign < 0, 0.5, 0.1), 0.22)      # roof / floor / panels
        albedo = albedo * (1.0 + 0.08 * np.sin(x * 41 + y * 17) * np.sin(z * 37))
        n = np.zeros_like(dirs)
        n[np.arange(len(dirs)), face] = -sign
        to_led = self.led_pos - p
        r2 = np.einsum("ni,ni->n", to_led, to_led)
        l_led = to_led / np.sqrt(r2)[:, None]
        beam = np.clip(-(l_led @ self.led_axis), 0, 1) ** LED_BEAM_EXPONENT
        e = lt.led * LED_REFERENCE_M ** 2 * beam * np.clip(np.einsum("ni,ni->n", n, l_led), 0, None) / r2
        e = e + lt.ambient
        outside = lt.window * (0.75 + 0.25 * np.sin(0.7 * (x + y) * 6 + time * 3.0)) * (1.0 - 0.5 * np.clip(z, 0, 1))
        rad = np.where(window, outside, albedo * e)
        if self.rgb:
            tint = np.where(window[:, None], np.array([0.85, 0.95, 1.1]), np.array([1.0, 0.97, 0.92]))
            return rad[:, None] * tint
        return rad

    def _apply_glasses(self, radiance: np.ndarray, lens: np.ndarray, rim: np.ndarray,
                       dirs_v: np.ndarray, r: np.ndarray) -> np.ndarray:
        acc = self.head.accessories
        if acc.glasses == "sun":
            trans = np.array([0.12, 0.12, 0.14]) if self.rgb else acc.sunglasses_nir
        else:
            trans = np.array([0.95, 0.95, 0.95]) if self.rgb else 0.93
        out = radiance.copy()
        out[lens] = out[lens] * trans
        # the lens reflects the illuminator: a glint where the lens normal bisects LED and view
        if self.lighting.led > 0:
            n_lens = r[:, 0]                     # lens plane normal = head x axis, in V
            lens_pts = self.camera.position + LENS_DISTANCE_M * dirs_v[lens]
            to_led = self.led_pos - lens_pts
            h = to_led / np.linalg.norm(to_led, axis=1, keepdims=True) - dirs_v[lens]
            h /= np.linalg.norm(h, axis=1, keepdims=True)
            glint = 0.8 * np.clip(h @ n_lens, 0, 1) ** 400 * self.lighting.led
            out[lens] = out[lens] + (glint[:, None] if self.rgb else glint)
        out[rim] = 0.02 * (1.0 + self.lighting.ambient)
        return out

    # ---- images ----------------------------------------------------------------------
    def render_window(self, frame: FrameState, box: tuple[float, float, float, float],
                      out_size: tuple[int, int]) -> dict[str, np.ndarray]:
        """Render the full-frame box (x0, y0, x1, y1) at out_size (w, h): the head ray-cast
        at the window's pixel centres over the background resampled there."""
        u, v = self.camera.window_pixels(box, out_size)
        if isinstance(self.head, HeadModel):
            res = self.render_rays(self.camera.rays(u.ravel(), v.ravel()), frame)
        else:   # a scanned head (numba, imported only when one is used)
            from synth.mesh_render import render_mesh_window
            res = render_mesh_window(self, frame, box, out_size, (u, v))
        bg = cv2.remap(self.background(), (u - 0.5).astype(np.float32), (v - 0.5).astype(np.float32),
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        w, h = out_size
        rad = bg.reshape(-1, 3) if self.rgb else bg.ravel()
        rad = np.where(res["hit"][:, None] if self.rgb else res["hit"], res["radiance"], rad)
        if res["lens"].any() or res["rim"].any():
            rad = self._apply_glasses(rad, res["lens"], res["rim"], res["dirs"], res["r"])
        shape = (h, w, 3) if self.rgb else (h, w)
        return {"radiance": rad.reshape(shape), "material": res["material"].reshape(h, w),
                "depth": res["depth"].reshape(h, w), "face": res["face"].reshape(h, w)}

    def head_box(self, r_head_v: np.ndarray, radius_m: float = 0.17) -> tuple[float, float, float, float]:
        """Full-frame pixel box that contains the head with its accessories and occluders."""
        uv, z = self.camera.project(self.head_position(r_head_v)[None])
        rad = self.camera.fx * radius_m / z[0]
        return (uv[0, 0] - rad, uv[0, 1] - rad, uv[0, 0] + rad, uv[0, 1] + rad)

    def render_full(self, frame: FrameState) -> dict[str, np.ndarray]:
        """A full frame: the background with the head's box ray-cast at native resolution.
        "box" is that box (x0, y0, x1, y1), clipped to the frame: all that differs from the
        background (what a renderer in another process needs to send back)."""
        w, h = self.camera.size
        bg = self.background()
        x0, y0, x1, y1 = self.head_box(frame.r_head_v)
        x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        x1, y1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        radiance = bg.copy()
        material = np.zeros((h, w), np.int16)
        depth = np.full((h, w), np.inf)
        face = np.zeros((h, w), bool)
        if x1 > x0 and y1 > y0:
            part = self.render_window(frame, (x0, y0, x1, y1), (x1 - x0, y1 - y0))
            radiance[y0:y1, x0:x1] = part["radiance"]
            material[y0:y1, x0:x1] = part["material"]
            depth[y0:y1, x0:x1] = part["depth"]
            face[y0:y1, x0:x1] = part["face"]
        return {"radiance": radiance, "material": material, "depth": depth, "face": face,
                "box": np.array([x0, y0, x1, y1])}


GAMMA = 1 / 2.2  # the sensor pipeline's tone curve


def metered_gain(radiance: np.ndarray, face: np.ndarray, target: float) -> float:
    """Auto-exposure metered on the face, as DMS cameras do: the gain that puts the face's
    median at `target` after the tone curve."""
    lum = radiance.mean(-1) if radiance.ndim == 3 else radiance
    ref = float(np.median(lum[face])) if face.sum() > 20 else float(np.median(lum))
    return float(np.clip(target ** (1 / GAMMA) / max(ref, 1e-4), 0.05, 200.0))


def tone(radiance: np.ndarray, gain: float) -> np.ndarray:
    """Gain then tone curve, in [0, 1]; bright windows and sunlit skin clip, as in a camera."""
    return np.clip(radiance * gain, 0.0, 1.0) ** GAMMA


def expose(radiance: np.ndarray, face: np.ndarray, target: float) -> tuple[np.ndarray, float]:
    gain = metered_gain(radiance, face, target)
    return tone(radiance, gain), gain
