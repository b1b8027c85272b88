"""The Kalman-filter baseline that the recurrent tracker has to beat (SPEC.md, "Why not a
Kalman filter"; issue item 5).

The patent's claim is that a learned recurrent tracker does more than smooth per-frame
noise: it also lowers the error itself. The only honest way to show that is against the
best Kalman filter we can build over the *same* per-frame CNN estimates, so this module
(1) implements the textbook constant-velocity filter, (2) tunes its noise parameters on
the validation split by search, per angle, and (3) keeps it causal, like the runtime and
the RNN: the output at frame t uses frames 0..t only.

The model, one independent filter per angle (pitch, yaw, roll; degrees, dms-head-v1):

* state ``[angle, rate]`` (deg, deg/s); ``F = [[1, dt], [0, 1]]`` with ``dt = 1 / fps``;
* process noise ``Q = Q_discrete_white_noise(dim=2, dt, var=q)`` (filterpy): the
  piecewise-constant white-acceleration model, ``Q = q [[dt^4/4, dt^3/2], [dt^3/2, dt^2]]``.
  So ``q`` is the *variance of the acceleration* held over one frame, in
  (deg/s^2)^2 = deg^2/s^4; it is not a spectral density (deg^2/s^3), which would be
  filterpy's ``Q_continuous_white_noise``. Both are tuned, so the choice only fixes units;
* measurement ``H = [[1, 0]]``, ``R = r`` (deg^2): the per-frame CNN's error variance;
* initialised from the first measurement: ``x0 = [z0, 0]``, ``P0 = diag(r, s_v^2)``, and
  frame 0's output is z0 itself (updating with z0 again would count it twice); every
  later frame is predict + update (filterpy's order).

Two implementations of the identical recursion:

* ``backend="filterpy"``: one ``filterpy.kalman.KalmanFilter`` per angle and sequence,
  stepped with ``predict()`` / ``update()``. The reference, ~23 us per step per angle.
* ``backend="numpy"``: the same equations (filterpy's Joseph-form covariance update
  included) written element-wise and vectorised over sequences and candidate parameters.
  The gain sequence K_t is data-independent (it depends on q, r, P0 and t only), so the
  covariance recursion runs once per parameter pair, not once per sequence; the
  steady-state gain is *not* assumed. tests/train/test_kalman.py checks it against
  filterpy to 1e-9 degrees. The tuner uses it (hundreds of parameter pairs x all
  validation frames in seconds); ``kalman_smooth`` defaults to it as well.

Why the (q, r) search is really a search over one ratio: scaling Q, R and P0 by one
factor scales every covariance and leaves every gain, hence every output, unchanged. With
P0's rate term fixed, r therefore matters only through the first frames of each clip and
the filter is governed by the tracking index ``q dt^4 / r``: the MAE surface over (q, r)
is a ridge, flat to about 1 % along r. The search still runs over both (it is cheap, and
the transient is real), and the tuner then re-expresses its winner, exactly, with r set
to the per-frame estimates' measured error variance (``KalmanConfig.rescaled``), so that
the reported numbers mean something. Per-angle parameters matter because the CNN's noise
and the head's dynamics differ between pitch, yaw and roll.

Angles wrap: yaw may cross +-180 degrees. Measurements are unwrapped along time before
filtering (np.unwrap is causal: each frame's correction depends on earlier frames only)
and outputs are wrapped back into (-180, 180].

The Rauch-Tung-Striebel smoother (``kalman_rts_smooth``) is offered only as a documented
*non-causal* reference: it looks at the whole clip, which no runtime can, so it is an
upper bound for "smoothing only", never the baseline.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal, Sequence, overload

import numpy as np
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter
from numpy.typing import ArrayLike, NDArray

from dms.angles import ANGLE_ORDER
from train.metrics import wrap_deg

FloatArray = NDArray[np.float64]
Backend = Literal["numpy", "filterpy"]

# Initial rate standard deviation (deg/s) for P0. Engineering choice: the order of a natural
# head turn's speed (synth/motion.py: large turns peak at ~150-350 deg/s, most frames are
# far slower fixations), so the first frames let the measurements set the rate. It affects
# only the first few frames of a clip.
DEFAULT_INIT_RATE_STD_DEG_S = 100.0

# Coarse search grid (log10). q: acceleration variance (deg/s^2)^2 from 1 to 1e8, i.e. an
# acceleration std of 1 to 10,000 deg/s^2; synth/motion.py caps head acceleration at
# 4,000 deg/s^2, so the grid brackets everything from "nearly constant velocity" to "no
# smoothing". r: measurement variance 1e-2 to 1e3 deg^2 (CNN error std 0.1 to 32 deg),
# bracketing the per-frame target (MAE <= 3 deg, i.e. std ~ 3.8 deg if Gaussian).
# Steps: one decade for q, half a decade for r (99 pairs). Because only q dt^4 / r
# matters (see the module docstring), the ratios the grid covers (10^-9 .. 10^4 at
# 30 fps) are what counts, and they are far wider than any sensible filter.
Q_GRID_LOG10: tuple[float, float, float] = (0.0, 8.0, 1.0)  # (start, stop, step)
R_GRID_LOG10: tuple[float, float, float] = (-2.0, 3.0, 0.5)
# Refinement: rounds of a (2k+1) x (2k+1) log grid centred on the best so far, the step
# halving each round. Three rounds reach 1/8 decade in q and 1/16 in r, finer than the
# flat optimum of the MAE surface needs.
REFINE_ROUNDS = 3
REFINE_HALF_WIDTH = 2  # candidates at best +- {1, 2} steps per axis

# Bound on lanes x sequences per vectorised pass (memory ~ 10 arrays of this many float64).
_MAX_BLOCK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class KalmanConfig:
    """Noise parameters of the per-angle constant-velocity filters, (pitch, yaw, roll).

    q: acceleration variance (deg^2/s^4) of filterpy's Q_discrete_white_noise model;
    r: measurement variance (deg^2). Rates are per second, so one config applies at any
    frame rate (dt comes from fps at filtering time). A scalar is accepted and shared by
    the three angles.
    """

    q: tuple[float, float, float]
    r: tuple[float, float, float]
    init_rate_std: tuple[float, float, float] = (DEFAULT_INIT_RATE_STD_DEG_S,) * 3

    def __post_init__(self) -> None:
        for name in ("q", "r", "init_rate_std"):
            value: Any = getattr(self, name)
            vals = tuple(float(v) for v in np.broadcast_to(np.asarray(value, dtype=np.float64), (3,))) \
                if np.ndim(value) == 0 else tuple(float(v) for v in value)
            if len(vals) != 3:
                raise ValueError(f"KalmanConfig.{name} must be one value or three (pitch, yaw, roll), got {value!r}")
            if not all(math.isfinite(v) and v > 0 for v in vals):
                raise ValueError(f"KalmanConfig.{name} must be finite and > 0, got {vals}")
            object.__setattr__(self, name, vals)

    @classmethod
    def shared(cls, q: float, r: float, init_rate_std: float = DEFAULT_INIT_RATE_STD_DEG_S) -> KalmanConfig:
        """One (q, r) for all three angles."""
        return cls(q=(q, q, q), r=(r, r, r), init_rate_std=(init_rate_std,) * 3)

    def rescaled(self, r: Sequence[float]) -> KalmanConfig:
        """The *same* filter expressed with measurement variances ``r``.

        Scaling Q, R and P0 by one factor c scales every covariance by c and leaves every
        gain, hence every output, unchanged. So (q, r, s_v) and (c q, c r, sqrt(c) s_v)
        are one filter; the tuner uses this to report r as the CNN's measured error
        variance instead of an arbitrary point on the MAE ridge.
        """
        c = np.asarray(r, dtype=np.float64) / np.asarray(self.r)
        q = np.asarray(self.q) * c
        v = np.asarray(self.init_rate_std) * np.sqrt(c)
        return KalmanConfig(q=(float(q[0]), float(q[1]), float(q[2])),
                            r=(float(r[0]), float(r[1]), float(r[2])),
                            init_rate_std=(float(v[0]), float(v[1]), float(v[2])))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "constant-velocity, Q_discrete_white_noise (q: deg^2/s^4), R = r (deg^2)",
            "q": dict(zip(ANGLE_ORDER, self.q)),
            "r": dict(zip(ANGLE_ORDER, self.r)),
            "init_rate_std": dict(zip(ANGLE_ORDER, self.init_rate_std)),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KalmanConfig:
        def three(v: Any) -> Any:
            return tuple(v[a] for a in ANGLE_ORDER) if isinstance(v, dict) else v

        return cls(q=three(d["q"]), r=three(d["r"]),
                   init_rate_std=three(d.get("init_rate_std", DEFAULT_INIT_RATE_STD_DEG_S)))


@dataclass(frozen=True)
class KalmanSearchRow:
    """One evaluated (angle, q, r) candidate and its validation MAE (degrees)."""

    stage: str  # "grid" or "refine-<k>"
    angle: str
    q: float
    r: float
    mae: float

    @property
    def ratio(self) -> float:
        """q / r (1/s^4): with dt it fixes the steady-state gain, the identifiable part."""
        return self.q / self.r

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "q_over_r": self.ratio}


# --------------------------------------------------------------------------------------
# Angles and inputs


def _as_sequences(estimates: Sequence[ArrayLike], what: str) -> list[FloatArray]:
    seqs = [np.asarray(e, dtype=np.float64) for e in estimates]
    if not seqs:
        raise ValueError(f"{what}: no sequences")
    for i, s in enumerate(seqs):
        if s.ndim != 2 or s.shape[1] != 3 or s.shape[0] < 1:
            raise ValueError(f"{what}[{i}] must have shape [T >= 1, 3] (pitch, yaw, roll), got {s.shape}")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"{what}[{i}] contains NaN or inf (missing frames must be filled before filtering)")
    return seqs


def _unwrap(seq: FloatArray) -> FloatArray:
    """Causal unwrap along time so that a yaw crossing +-180 is not a 360-degree jump."""
    return np.unwrap(seq, period=360.0, axis=0)


def _dt(fps: float) -> float:
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be finite and > 0, got {fps}")
    return 1.0 / fps


# --------------------------------------------------------------------------------------
# The vectorised recursion


def _cv_pass(z: FloatArray, lengths: NDArray[np.int64], dt: float, q: FloatArray, r: FloatArray,
             rate_var0: FloatArray, truth: FloatArray | None = None) -> FloatArray:
    """Run the CV filter for G parameter lanes over S sequences of one angle.

    z: [T_max, S] unwrapped measurements, sequences sorted by length (descending) so that
    the sequences still running at frame t are a prefix; lengths: [S]. q, r, rate_var0: [G].
    Returns the filtered angle [T_max, G, S] (unwrapped, zero past each length), or, when
    ``truth`` ([T_max, S]) is given, the per-lane sum of |wrap(estimate - truth)| [G]
    without storing the outputs (what the tuner needs).

    The equations are filterpy's KalmanFilter.predict / update (Joseph form) written out
    for the 2x2 case; P is symmetric and kept as (p00, p01, p11).
    """
    t_max, s = z.shape
    g = q.shape[0]
    q_unit = Q_discrete_white_noise(dim=2, dt=dt, var=1.0)
    q00, q01, q11 = q * q_unit[0, 0], q * q_unit[0, 1], q * q_unit[1, 1]
    # Initial state from the first measurement; frame 0's output is z0.
    p00, p01, p11 = r.copy(), np.zeros(g), rate_var0.astype(np.float64)
    ang = np.broadcast_to(z[0], (g, s)).copy()
    vel = np.zeros((g, s))
    out: FloatArray | None = None
    err = np.zeros(g)
    if truth is None:
        out = np.zeros((t_max, g, s))
        out[0] = ang
    else:
        err += np.abs(wrap_deg(ang - truth[0])).sum(axis=1)
    active = np.searchsorted(-lengths, -np.arange(t_max), side="left")  # count of lengths > t
    dt2 = dt * dt
    for t in range(1, t_max):
        n = int(active[t])
        # Predict: x = F x, P = F P F' + Q.
        p00 = p00 + 2.0 * dt * p01 + dt2 * p11 + q00
        p01 = p01 + dt * p11 + q01
        p11 = p11 + q11
        # Update: S = P00 + r, K = P H' / S, Joseph form P = (I-KH) P (I-KH)' + K R K'.
        s_inv = 1.0 / (p00 + r)
        k0 = p00 * s_inv
        k1 = p01 * s_inv
        a = ang[:, :n] + dt * vel[:, :n]
        y = z[t, :n] - a
        ang[:, :n] = a + k0[:, None] * y
        vel[:, :n] = vel[:, :n] + k1[:, None] * y
        one_k0 = 1.0 - k0
        p00, p01, p11 = (
            one_k0 * one_k0 * p00 + k0 * k0 * r,
            one_k0 * (p01 - k1 * p00) + k0 * k1 * r,
            k1 * k1 * p00 - 2.0 * k1 * p01 + p11 + k1 * k1 * r,
        )
        if out is not None:
            out[t, :, :n] = ang[:, :n]
        else:
            assert truth is not None
            err += np.abs(wrap_deg(ang[:, :n] - truth[t, :n])).sum(axis=1)
    return err if out is None else out


def _pack(seqs: list[FloatArray]) -> tuple[FloatArray, NDArray[np.int64], NDArray[np.int64]]:
    """Unwrap and pad sequences into [T_max, S, 3], sorted by length descending."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    z = np.zeros((int(lengths.max()), len(seqs), 3))
    for j, i in enumerate(order):
        z[: lengths[i], j] = _unwrap(seqs[i])
    return z, lengths[order], order


def _filter_numpy(seqs: list[FloatArray], dt: float, config: KalmanConfig) -> list[FloatArray]:
    z, lengths, order = _pack(seqs)
    result = [np.empty_like(s) for s in seqs]
    for k in range(3):
        out = _cv_pass(z[:, :, k], lengths, dt, np.array([config.q[k]]), np.array([config.r[k]]),
                       np.array([config.init_rate_std[k] ** 2]))[:, 0, :]
        for j, i in enumerate(order):
            result[i][:, k] = wrap_deg(out[: lengths[j], j])
    return result


# --------------------------------------------------------------------------------------
# The filterpy reference


def make_filterpy_filter(z0: float, dt: float, q: float, r: float,
                         init_rate_std: float = DEFAULT_INIT_RATE_STD_DEG_S) -> KalmanFilter:
    """One angle's filterpy KalmanFilter, initialised from its first measurement z0."""
    kf = KalmanFilter(dim_x=2, dim_z=1)
    kf.x = np.array([[z0], [0.0]])
    kf.P = np.diag([r, init_rate_std ** 2])
    kf.F = np.array([[1.0, dt], [0.0, 1.0]])
    kf.H = np.array([[1.0, 0.0]])
    kf.Q = Q_discrete_white_noise(dim=2, dt=dt, var=q)
    kf.R = np.array([[r]])
    return kf


def _filter_filterpy(seqs: list[FloatArray], dt: float, config: KalmanConfig) -> list[FloatArray]:
    result = []
    for seq in seqs:
        z = _unwrap(seq)
        out = np.empty_like(z)
        for k in range(3):
            kf = make_filterpy_filter(z[0, k], dt, config.q[k], config.r[k], config.init_rate_std[k])
            out[0, k] = z[0, k]
            for t in range(1, len(z)):
                kf.predict()
                kf.update(z[t, k])
                out[t, k] = kf.x[0, 0]
        result.append(wrap_deg(out))
    return result


# --------------------------------------------------------------------------------------
# Public API


@overload
def kalman_smooth(estimates: NDArray[Any], fps: float, config: KalmanConfig, *,
                  backend: Backend = "numpy") -> FloatArray: ...
@overload
def kalman_smooth(estimates: Sequence[ArrayLike], fps: float, config: KalmanConfig, *,
                  backend: Backend = "numpy") -> list[FloatArray]: ...
def kalman_smooth(estimates: NDArray[Any] | Sequence[ArrayLike], fps: float, config: KalmanConfig, *,
                  backend: Backend = "numpy") -> FloatArray | list[FloatArray]:
    """Causally filter per-frame (pitch, yaw, roll) estimates in degrees.

    ``estimates`` is one [T, 3] array (returns one array) or a list of them, one per
    sequence (returns a list; every sequence starts a fresh filter). The output at frame t
    depends on frames 0..t only, as at runtime. ``backend`` picks the vectorised numpy
    recursion (default, fast) or the filterpy reference; both give the same numbers
    (tested to 1e-9 deg).
    """
    single = isinstance(estimates, np.ndarray)
    if isinstance(estimates, np.ndarray):
        if estimates.ndim != 2:
            raise ValueError(f"a single sequence must be [T, 3]; pass a list for many, got shape {estimates.shape}")
        seqs = _as_sequences([estimates], "estimates")
    else:
        seqs = _as_sequences(estimates, "estimates")
    dt = _dt(fps)
    if backend == "numpy":
        out = _filter_numpy(seqs, dt, config)
    elif backend == "filterpy":
        out = _filter_filterpy(seqs, dt, config)
    else:
        raise ValueError(f"backend must be 'numpy' or 'filterpy', got {backend!r}")
    return out[0] if single else out


def kalman_rts_smooth(estimates: Sequence[ArrayLike], fps: float, config: KalmanConfig) -> list[FloatArray]:
    """NON-CAUSAL reference: the Rauch-Tung-Striebel smoother over whole sequences.

    Uses filterpy's ``batch_filter`` and ``rts_smoother`` on the same model and
    initialisation as ``kalman_smooth``. Every output frame depends on the whole clip, so
    this is what pure smoothing could reach with hindsight; it is *not* the baseline the
    causal RNN is compared with, and must be labelled non-causal wherever it is reported.
    """
    seqs = _as_sequences(estimates, "estimates")
    dt = _dt(fps)
    result = []
    for seq in seqs:
        z = _unwrap(seq)
        out = np.empty_like(z)
        for k in range(3):
            kf = make_filterpy_filter(z[0, k], dt, config.q[k], config.r[k], config.init_rate_std[k])
            x0, p0 = kf.x.copy(), kf.P.copy()
            if len(z) == 1:
                out[:, k] = z[:, k]
                continue
            means, covs, _, _ = kf.batch_filter(list(z[1:, k]))
            xs = np.concatenate([x0[None], means])
            ps = np.concatenate([p0[None], covs])
            xs_smooth, _, _, _ = kf.rts_smoother(xs, ps)
            out[:, k] = xs_smooth[:, 0, 0]
        result.append(wrap_deg(out))
    return result


def kalman_mae(estimates: Sequence[ArrayLike], truth: Sequence[ArrayLike], fps: float,
               q: ArrayLike, r: ArrayLike, *, init_rate_std: ArrayLike = DEFAULT_INIT_RATE_STD_DEG_S) -> FloatArray:
    """Validation MAE (degrees) of many candidate filters at once, without storing outputs.

    q and r: [G] or [3, G] (per angle) candidate parameters; init_rate_std broadcasts to
    the same shape (a scalar, [G], [3, 1] or [3, G]). Returns [3, G]: the MAE of
    candidate g on each angle, pooled over all frames of all sequences (the metric of
    train/metrics.py, wrapped errors).
    """
    seqs = _as_sequences(estimates, "estimates")
    gts = _as_sequences(truth, "truth")
    if [s.shape for s in seqs] != [g.shape for g in gts]:
        raise ValueError("estimates and truth must have the same number of sequences and shapes")
    qa, ra = (np.asarray(v, dtype=np.float64) for v in (q, r))
    qa, ra = (np.tile(v, (3, 1)) if v.ndim == 1 else v for v in (qa, ra))
    if qa.ndim != 2 or qa.shape[0] != 3 or qa.shape != ra.shape:
        raise ValueError(f"q and r must both be [G] or [3, G], got {np.shape(q)} and {np.shape(r)}")
    va = np.broadcast_to(np.asarray(init_rate_std, dtype=np.float64), qa.shape)
    if any(np.any(~np.isfinite(a) | (a <= 0)) for a in (qa, ra, va)):
        raise ValueError("q, r and init_rate_std candidates must be finite and > 0")
    dt = _dt(fps)
    z, lengths, order = _pack(seqs)
    tr = np.zeros_like(z)
    for j, i in enumerate(order):
        tr[: lengths[j], j] = gts[i]
    n_frames = float(lengths.sum())
    g_total = qa.shape[1]
    block = max(1, _MAX_BLOCK_ELEMENTS // max(1, z.shape[1]))
    mae = np.empty((3, g_total))
    for k in range(3):
        for g0 in range(0, g_total, block):
            sl = slice(g0, min(g_total, g0 + block))
            mae[k, sl] = _cv_pass(z[:, :, k], lengths, dt, np.ascontiguousarray(qa[k, sl]),
                                  np.ascontiguousarray(ra[k, sl]), np.ascontiguousarray(va[k, sl] ** 2),
                                  truth=tr[:, :, k]) / n_frames
    return mae


def steady_state_gains(config: KalmanConfig, fps: float) -> FloatArray:
    """[3, 2]: the gains (position, rate) each angle's filter converges to.

    Not used for filtering (the recursion keeps its time-varying gains); it makes a tuned
    config readable: a position gain k means the filter moves k of the way towards each
    new measurement, roughly an average over ~1/k frames.
    """
    from scipy.linalg import solve_discrete_are

    dt = _dt(fps)
    f = np.array([[1.0, dt], [0.0, 1.0]])
    h = np.array([[1.0, 0.0]])
    gains = np.empty((3, 2))
    for k in range(3):
        q_mat = Q_discrete_white_noise(dim=2, dt=dt, var=config.q[k])
        r_mat = np.array([[config.r[k]]])
        p_prior = solve_discrete_are(f.T, h.T, q_mat, r_mat)  # the predicted covariance
        gains[k] = (p_prior @ h.T / (h @ p_prior @ h.T + r_mat))[:, 0]
    return gains


def _log_grid(spec: tuple[float, float, float]) -> FloatArray:
    start, stop, step = spec
    n = int(round((stop - start) / step)) + 1
    return 10.0 ** np.linspace(start, stop, n)


def grid_corners() -> list[tuple[float, float]]:
    """The four (q, r) corners of the coarse grid (the tests check the tuned filter beats them)."""
    qs, rs = _log_grid(Q_GRID_LOG10), _log_grid(R_GRID_LOG10)
    return [(float(q), float(r)) for q in (qs[0], qs[-1]) for r in (rs[0], rs[-1])]


def tune_kalman(estimates: Sequence[ArrayLike], truth: Sequence[ArrayLike], fps: float, *,
                q_grid_log10: tuple[float, float, float] = Q_GRID_LOG10,
                r_grid_log10: tuple[float, float, float] = R_GRID_LOG10,
                refine_rounds: int = REFINE_ROUNDS,
                init_rate_std: float = DEFAULT_INIT_RATE_STD_DEG_S,
                calibrate_r: bool = True) -> tuple[KalmanConfig, list[KalmanSearchRow]]:
    """Pick per-angle (q, r) minimising validation MAE; return the config and the search table.

    A coarse log grid first (Q_GRID_LOG10 x R_GRID_LOG10), then ``refine_rounds`` rounds
    of a 5 x 5 log grid around each angle's best with the step halved each round, inside
    the coarse grid's box. A warning says when the coarse optimum's q is on the grid's
    edge or its q/r is the grid's extreme ratio (the grid is then too narrow). The angles are
    independent filters and the overall MAE is the mean of the per-angle MAEs, so
    minimising each angle's MAE minimises the overall MAE. Uses the vectorised recursion
    (identical to filterpy's, see the module docstring). Call it on the validation split
    only; the test split must not see it.

    The table holds every evaluated candidate as searched (P0's rate std fixed at
    ``init_rate_std``). The returned config is the best candidate; with ``calibrate_r``
    (default) it is re-expressed by ``KalmanConfig.rescaled`` so that r is the raw
    estimates' measured error variance on this split: the same filter, same outputs,
    but numbers a reader can check (the search's own r drifts along the flat ridge).
    """
    seqs = _as_sequences(estimates, "estimates")
    gts = _as_sequences(truth, "truth")
    if [s.shape for s in seqs] != [g.shape for g in gts]:
        raise ValueError("estimates and truth must have the same number of sequences and shapes")
    qs, rs = np.log10(_log_grid(q_grid_log10)), np.log10(_log_grid(r_grid_log10))
    lq, lr = (a.ravel() for a in np.meshgrid(qs, rs, indexing="ij"))
    rows: list[KalmanSearchRow] = []

    def evaluate(stage: str, log_q: FloatArray, log_r: FloatArray) -> FloatArray:
        mae = kalman_mae(seqs, gts, fps, 10.0 ** log_q, 10.0 ** log_r, init_rate_std=init_rate_std)
        for k, angle in enumerate(ANGLE_ORDER):
            for g in range(log_q.shape[1]):
                rows.append(KalmanSearchRow(stage, angle, float(10.0 ** log_q[k, g]),
                                            float(10.0 ** log_r[k, g]), float(mae[k, g])))
        return mae

    mae = evaluate("grid", np.tile(lq, (3, 1)), np.tile(lr, (3, 1)))
    best_i = np.argmin(mae, axis=1)
    best_q, best_r, best_mae = lq[best_i].copy(), lr[best_i].copy(), mae[np.arange(3), best_i].copy()
    # Only the ratio q/r is well identified (module docstring); along the ridge the MAE is
    # flat to ~1 %, so an optimum on the r edge is expected and harmless. An optimum on the
    # q edge, or at the grid's extreme ratio, means the grid may miss the filter that fits.
    log_ratio, ratios = best_q - best_r, lq - lr
    edge = [ANGLE_ORDER[k] for k in range(3)
            if best_q[k] in (qs[0], qs[-1])
            or log_ratio[k] <= ratios.min() + 1e-9 or log_ratio[k] >= ratios.max() - 1e-9]
    if edge:
        warnings.warn(f"tune_kalman: the best q of {edge} is on the q grid's edge or at its extreme ratio; "
                      "widen the grid", stacklevel=2)
    step_q, step_r = q_grid_log10[2], r_grid_log10[2]
    offsets = np.arange(-REFINE_HALF_WIDTH, REFINE_HALF_WIDTH + 1, dtype=np.float64)
    dq, dr = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
    for rnd in range(1, refine_rounds + 1):
        step_q, step_r = step_q / 2.0, step_r / 2.0
        # Stay inside the coarse grid's box: outside it only the flat r direction could
        # gain (a fraction of a per cent), at the price of meaningless r values.
        cand_q = np.clip(best_q[:, None] + step_q * dq[None, :], qs[0], qs[-1])
        cand_r = np.clip(best_r[:, None] + step_r * dr[None, :], rs[0], rs[-1])
        mae = evaluate(f"refine-{rnd}", cand_q, cand_r)
        i = np.argmin(mae, axis=1)
        for k in range(3):
            if mae[k, i[k]] < best_mae[k]:
                best_q[k], best_r[k], best_mae[k] = cand_q[k, i[k]], cand_r[k, i[k]], mae[k, i[k]]
    q_best = (float(10.0 ** best_q[0]), float(10.0 ** best_q[1]), float(10.0 ** best_q[2]))
    r_best = (float(10.0 ** best_r[0]), float(10.0 ** best_r[1]), float(10.0 ** best_r[2]))
    best = KalmanConfig(q=q_best, r=r_best, init_rate_std=(init_rate_std,) * 3)
    if not calibrate_r:
        return best, rows
    return best.rescaled(measured_error_variance(seqs, gts)), rows


def measured_error_variance(estimates: Sequence[ArrayLike], truth: Sequence[ArrayLike]) -> tuple[float, float, float]:
    """Per-angle mean squared (wrapped) error of the raw estimates: the CNN's R, measured."""
    err = np.concatenate([wrap_deg(np.asarray(e, dtype=np.float64) - np.asarray(g, dtype=np.float64))
                          for e, g in zip(estimates, truth)])
    v = np.maximum(np.mean(err ** 2, axis=0), np.finfo(np.float64).tiny)
    return float(v[0]), float(v[1]), float(v[2])
