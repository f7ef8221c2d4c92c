"""A 68-point face shape model: Procrustes-aligned shapes, PCA, pose-aware and mirror-aware sampling, fitting.

Why: faces made by warping real faces *onto* a target shape (``faces.morph``, the shape-appearance generator) have
exact landmarks, but only if the target shapes are ones real faces have. A point distribution model (Cootes et al.,
"Active shape models", 1995) gives that: every training shape is aligned to the mean by a similarity transform
(generalised Procrustes: translation, scale, rotation — no reflection), and the aligned shapes' principal modes
describe how faces differ once position, size and roll are removed.

Coordinates. Shapes are handled in *frame units*: pixel coordinates (ours, design.md §3) divided by the image side,
so one model serves 64 and 128 px faces of the same framing. A shape = model-frame points ``mean + b @ components``
(unit centroid size, centred) placed by a similarity: frame points = centre + scale * rotate(roll) * model points.
``placement`` is (cx, cy, log scale, roll in radians).

Mirror-aware: every training shape is also added mirrored (x -> -x with the ``ibug68`` schema's ``flip_perm``, the
subject's left and right swapped), so the mean shape is left-right symmetric and every mode's mirror image is as
likely as the mode itself.

Pose-aware sampling. Faces turn (yaw), nod (pitch) and tilt (roll), and the modes mix these with identity. Sampling
b from independent Gaussians (the textbook PDM) gives shapes whose pose combinations never occur; so the default
``kde`` sampling draws a training shape (its b *and* its placement) and perturbs it by a fraction of each mode's
spread: a kernel density estimate of the training distribution. Every sample's pose proxies (``pose_proxies``:
yaw from the nose's offset within the jaw span, pitch from the nose tip's height between eyes and mouth, roll from
the eye line) must lie inside the training shapes' 0.5-99.5 % range, else it is drawn again.

The shipped model (``SHAPE_FILE``, a few hundred kB) was built by ``experiments/faces_shape_model.py`` from the training
splits of faces_68pt (hand-annotated) and the CelebA / UTKFace bundles (dlib's points); its ``info`` holds the
sources, counts, modes and the reconstruction NME of ``fit`` on held-out shapes.

>>> m = ShapeModel.load()
>>> shapes = m.sample(4, np.random.default_rng(0), size=64)
>>> shapes.shape, bool(np.isfinite(shapes).all())
((4, 68, 2), True)
>>> fitted = m.fit(shapes / 64) * 64  # a model shape is reproduced by fitting it
>>> float(np.abs(fitted - shapes).max()) < 1e-3
True
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fakevision.core.errors import InputError

SHAPE_FILE = Path(__file__).resolve().parent / "data" / "shape68.safetensors"
N_POINTS = 68


def _flip_perm() -> np.ndarray:
    from fakevision.core.keypoints import get_schema

    return np.asarray(get_schema("ibug68").flip_perm)


def _c(x: np.ndarray) -> np.ndarray:
    """(... x 68 x 2) real -> (... x 68) complex."""
    return x[..., 0] + 1j * x[..., 1]


def _r(z: np.ndarray) -> np.ndarray:
    return np.stack([z.real, z.imag], -1)


def mirror_shapes(shapes: np.ndarray) -> np.ndarray:
    """Mirror centred model-frame shapes (... x 68 x 2): x -> -x, points renamed by ``flip_perm``.

    >>> s = np.zeros((68, 2)); s[36] = [-1, 0]; s[45] = [1, 0]  # outer eye corners
    >>> m = mirror_shapes(s); m[36].tolist(), m[45].tolist()
    ([-1.0, 0.0], [1.0, 0.0])
    """
    out = np.array(shapes, np.float64)[..., _flip_perm(), :]
    out[..., 0] *= -1
    return out


def similarity(src: np.ndarray, dst: np.ndarray) -> complex:
    """The complex factor a (scale * e^{i roll}) of the least-squares similarity that maps centred ``src`` onto
    centred ``dst`` (both N x 2): dst ~ a * src. No reflection.

    >>> s = np.array([[1.0, 0], [-1, 0]]); similarity(s, 2 * s[:, ::-1])
    2j
    """
    zs, zd = _c(np.asarray(src, np.float64)), _c(np.asarray(dst, np.float64))
    return complex(np.vdot(zs, zd) / max(np.vdot(zs, zs).real, 1e-300))


def procrustes_align(shapes: np.ndarray, iterations: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generalised Procrustes analysis of N x 68 x 2 shapes: returns (aligned shapes, their mean — centred, unit
    centroid size, roll fixed by the first shape's eye line made level —, N complex similarity factors a with
    shape_i - centre_i ~ a_i * aligned_i).

    >>> rng = np.random.default_rng(0); base = rng.normal(size=(68, 2))
    >>> moved = np.stack([3 * base @ [[0.8, -0.6], [0.6, 0.8]] + 5, base * 0.5 - 2])
    >>> aligned, mean, a = procrustes_align(moved)
    >>> float(np.abs(aligned[0] - aligned[1]).max()) < 1e-9, round(float(abs(a[0] / a[1])), 6)
    (True, 6.0)
    """
    x = np.asarray(shapes, np.float64)
    if x.ndim != 3 or x.shape[1:] != (N_POINTS, 2):
        raise InputError(f"shapes must be N x {N_POINTS} x 2, got {x.shape}")
    z = _c(x)
    z = z - z.mean(1, keepdims=True)
    ref = z[0] / np.sqrt((np.abs(z[0]) ** 2).sum())
    eye = ref[42:48].mean() - ref[36:42].mean()  # image-left eye to image-right eye: level it
    ref = ref * np.conj(eye) / abs(eye)
    for _ in range(iterations):
        a = (np.conj(z) @ ref) / (np.abs(z) ** 2).sum(1)  # aligned = a' * z minimises |a' z - ref|
        aligned = z * a[:, None]
        mean = aligned.mean(0)
        mean = mean / np.sqrt((np.abs(mean) ** 2).sum())
        eye = mean[42:48].mean() - mean[36:42].mean()
        mean = mean * np.conj(eye) / abs(eye)
        if np.abs(mean - ref).max() < 1e-12:
            break
        ref = mean
    a = (np.conj(z) @ ref) / (np.abs(z) ** 2).sum(1)
    aligned = z * a[:, None]
    return _r(aligned), _r(ref), 1.0 / a


def pose_proxies(model_points: np.ndarray, roll: np.ndarray | float = 0.0) -> np.ndarray:
    """(... x 3) pose proxies of upright model-frame shapes (... x 68 x 2): yaw (nose tip offset from the middle of
    the jaw span over half that span: 0 frontal, about +-1 in profile), pitch (nose tip height between the eye line
    and the mouth centre, 0 at the eyes, 1 at the mouth) and roll (degrees, given). Proxies, not angles: they are
    what sampling keeps inside the training range, computed the same way on every shape.

    >>> m = ShapeModel.load(); p = pose_proxies(m.mean)
    >>> abs(float(p[0])) < 0.02, 0.3 < float(p[1]) < 0.8
    (True, True)
    """
    q = np.asarray(model_points, np.float64)
    xl, xr, xn = q[..., 0, 0], q[..., 16, 0], q[..., 30, 0]
    yaw = (xn - (xl + xr) / 2) / np.maximum((xr - xl) / 2, 1e-9)
    eye_y = q[..., 36:48, 1].mean(-1)
    mouth_y = q[..., 48:68, 1].mean(-1)
    pitch = (q[..., 30, 1] - eye_y) / np.where(np.abs(mouth_y - eye_y) < 1e-9, 1e-9, mouth_y - eye_y)
    return np.stack([yaw, pitch, np.broadcast_to(np.degrees(roll), yaw.shape)], -1)


@dataclass
class ShapeModel:
    """The point distribution model (see the module doc). ``mean`` 68 x 2 (model frame), ``components`` K x 136
    (orthonormal rows), ``sd`` K (each mode's standard deviation), ``coeffs`` M x K and ``placements`` M x 4 of
    (a sample of) the training shapes and their mirrors, ``pose_range`` 2 x 3 (low and high pose proxies)."""

    mean: np.ndarray
    components: np.ndarray
    sd: np.ndarray
    coeffs: np.ndarray
    placements: np.ndarray
    pose_range: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_modes(self) -> int:
        return len(self.sd)

    @functools.cached_property
    def _placement_sd(self) -> np.ndarray:
        return self.placements.std(0)

    # -- building ----------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, shapes: np.ndarray, variance: float = 0.98, mirror: bool = True, keep: int = 4000,
              seed: int = 0, info: dict[str, Any] | None = None) -> ShapeModel:
        """A model of N x 68 x 2 shapes in frame units (pixels / image side): Procrustes, mirrored copies, PCA with
        the fewest modes that explain ``variance`` of the aligned shapes' variance; ``keep`` training shapes (and
        their placements) are stored for ``kde`` sampling.

        >>> rng = np.random.default_rng(0)
        >>> m = ShapeModel.build(ShapeModel.load().sample(300, rng), variance=0.9)
        >>> 1 <= m.num_modes < 136, m.info["variance_kept"] >= 0.9
        (True, True)
        """
        x = np.asarray(shapes, np.float64)
        if x.ndim != 3 or x.shape[1:] != (N_POINTS, 2) or len(x) < 3:
            raise InputError(f"need at least 3 shapes of {N_POINTS} x 2 points, got {x.shape}")
        if not np.isfinite(x).all():
            raise InputError("shapes contain NaN or infinite values")
        if not 0.0 < variance <= 1.0:
            raise InputError(f"variance must be in (0, 1], got {variance}")
        centre = x.mean(1)
        if mirror:  # mirrored in the frame: x -> 1 - x (frame units), names swapped
            xm = x[:, _flip_perm()].copy()
            xm[..., 0] = 1.0 - xm[..., 0]
            x = np.concatenate([x, xm])
            centre = x.mean(1)
        aligned, mean, a = procrustes_align(x)
        flat = (aligned - mean).reshape(len(x), -1)
        # tangent space: no mode may change the mean's size or roll (the placement does), so fits are unambiguous
        for t in (mean.ravel(), np.column_stack([-mean[:, 1], mean[:, 0]]).ravel()):
            t = t / np.linalg.norm(t)
            flat = flat - np.outer(flat @ t, t)
        _, s, vt = np.linalg.svd(flat, full_matrices=False)
        var = s**2 / (len(x) - 1)
        frac = np.cumsum(var) / var.sum()
        k = int(np.searchsorted(frac, variance - 1e-12) + 1)
        comps, sd = vt[:k], np.sqrt(var[:k])
        coeffs = flat @ comps.T
        placements = np.column_stack([centre, np.log(np.abs(a)), np.angle(a)])
        pose = pose_proxies(mean + (coeffs @ comps).reshape(-1, N_POINTS, 2), placements[:, 3])
        rng = np.random.default_rng(seed)
        idx = np.arange(len(x)) if len(x) <= keep else np.sort(rng.choice(len(x), keep, replace=False))
        out = cls(mean, comps, sd, coeffs[idx], placements[idx], np.quantile(pose, [0.005, 0.995], axis=0),
                  {**(info or {}), "shapes": int(len(shapes)), "mirrored": bool(mirror), "modes": k,
                   "variance_kept": float(frac[k - 1]), "variance_asked": variance})
        return out

    # -- shapes <-> parameters -------------------------------------------------------------------------------

    def instance(self, b: np.ndarray) -> np.ndarray:
        """Model-frame points (... x 68 x 2) for mode coefficients ``b`` (... x K)."""
        b = np.asarray(b, np.float64)
        return self.mean + (b @ self.components).reshape(*b.shape[:-1], N_POINTS, 2)

    @staticmethod
    def place(model_points: np.ndarray, placement: np.ndarray) -> np.ndarray:
        """Frame-unit points from model-frame points and a placement (cx, cy, log scale, roll) (... x 4)."""
        p = np.asarray(placement, np.float64)
        a = np.exp(p[..., 2]) * np.exp(1j * p[..., 3])
        z = _c(np.asarray(model_points, np.float64)) * a[..., None] + (p[..., 0] + 1j * p[..., 1])[..., None]
        return _r(z)

    def params(self, points: np.ndarray, iterations: int = 5, clip: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
        """Fit the model to frame-unit points (... x 68 x 2): (b ... x K, placement ... x 4). Alternates the
        similarity that best places the current model shape on the points and the projection of the points,
        brought into the model frame, onto the modes; b is clipped to +-``clip`` standard deviations."""
        x = np.asarray(points, np.float64)
        lead = x.shape[:-2]
        x = x.reshape(-1, N_POINTS, 2)
        zc = _c(x)
        cen = zc.mean(1)
        zc = zc - cen[:, None]
        b = np.zeros((len(x), self.num_modes))
        for _ in range(iterations):
            m = _c(self.instance(b))
            m = m - m.mean(1, keepdims=True)
            a = (np.conj(m) * zc).sum(1) / (np.abs(m) ** 2).sum(1)
            y = _r(zc / a[:, None]) - self.mean
            b = np.clip(y.reshape(len(x), -1) @ self.components.T, -clip * self.sd, clip * self.sd)
        pl = np.column_stack([cen.real, cen.imag, np.log(np.abs(a)), np.angle(a)])
        return b.reshape(*lead, -1), pl.reshape(*lead, 4)

    def fit(self, points: np.ndarray, **kw: Any) -> np.ndarray:
        """The model shape closest to frame-unit ``points`` (... x 68 x 2), placed like them."""
        b, pl = self.params(points, **kw)
        return self.place(self.instance(b), pl)

    def pose(self, points: np.ndarray) -> np.ndarray:
        """Pose proxies (... x 3: yaw, pitch, roll in degrees) of frame-unit points, through the model fit."""
        b, pl = self.params(points)
        return pose_proxies(self.instance(b), pl[..., 3])

    def conditioned_on(self, shapes: np.ndarray, keep: int = 4000, seed: int = 0, mirror: bool = True) -> ShapeModel:
        """The same modes with another reference set for sampling: the stored coefficients, placements and pose
        range of frame-unit ``shapes`` (N x 68 x 2; with their mirror images). Why: placement depends on how a
        data set frames its faces (CelebA's crops are tight, faces_68pt's loose), so a source samples shapes placed
        as its own faces are, while the modes are shared."""
        x = np.asarray(shapes, np.float64)
        if x.ndim != 3 or x.shape[1:] != (N_POINTS, 2) or not len(x):
            raise InputError(f"shapes must be N x {N_POINTS} x 2 (N >= 1), got {x.shape}")
        if mirror:
            xm = x[:, _flip_perm()].copy()
            xm[..., 0] = 1.0 - xm[..., 0]
            x = np.concatenate([x, xm])
        rng = np.random.default_rng(seed)
        if len(x) > keep:
            x = x[np.sort(rng.choice(len(x), keep, replace=False))]
        b, pl = self.params(x)
        pose = pose_proxies(self.instance(b), pl[:, 3])
        return ShapeModel(self.mean, self.components, self.sd, b, pl, np.quantile(pose, [0.005, 0.995], axis=0),
                          {**self.info, "reference_shapes": int(len(x))})

    # -- sampling -------------------------------------------------------------------------------------------

    def sample(self, n: int, rng: np.random.Generator, size: float = 1.0, method: str = "kde",
               bandwidth: float = 0.35, max_tries: int = 50) -> np.ndarray:
        """``n`` new shapes (n x 68 x 2) in pixels of a ``size``-px frame (1: frame units). ``method``: ``kde``
        (a stored training shape, its b and placement perturbed by ``bandwidth`` x each one's spread: the
        training distribution's pose combinations) or ``gaussian`` (b ~ N(0, sd²) truncated at 2.5 sd, placed
        like a random training shape). Shapes whose pose proxies leave the training range are drawn again."""
        return self.sample_params(n, rng, method, bandwidth, max_tries)[2] * size

    def sample_params(self, n: int, rng: np.random.Generator, method: str = "kde", bandwidth: float = 0.35,
                      max_tries: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(b n x K, placement n x 4, frame-unit shapes n x 68 x 2) of ``sample``."""
        if method not in ("kde", "gaussian"):
            raise InputError(f"unknown shape sampling {method!r} (kde or gaussian)")
        if n < 0:
            raise InputError(f"n must be >= 0, got {n}")
        b_out = np.zeros((n, self.num_modes))
        p_out = np.zeros((n, 4))
        pl_sd = self._placement_sd
        lo, hi = self.pose_range
        todo = np.arange(n)
        for _ in range(max_tries):
            if not len(todo):
                break
            i = rng.integers(0, len(self.coeffs), len(todo))
            if method == "kde":
                b = self.coeffs[i] + bandwidth * self.sd * rng.standard_normal((len(todo), self.num_modes))
            else:
                b = np.clip(self.sd * rng.standard_normal((len(todo), self.num_modes)), -2.5 * self.sd,
                            2.5 * self.sd)
            b = np.clip(b, -3 * self.sd, 3 * self.sd)
            pl = self.placements[i] + bandwidth * pl_sd * rng.standard_normal((len(todo), 4))
            pose = pose_proxies(self.instance(b), pl[:, 3])
            ok = ((pose >= lo) & (pose <= hi)).all(1)
            b_out[todo[ok]], p_out[todo[ok]] = b[ok], pl[ok]
            last_i = i[~ok]
            todo = todo[~ok]
        if len(todo):  # rare: fall back to the training shapes themselves (in range by construction)
            b_out[todo], p_out[todo] = self.coeffs[last_i], self.placements[last_i]
        return b_out, p_out, self.place(self.instance(b_out), p_out)

    # -- files ----------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the model as safetensors (float32 arrays + JSON ``info``), atomically."""
        from safetensors.numpy import save

        from fakevision.io.atomic import atomic_write_bytes

        t = {k: np.ascontiguousarray(getattr(self, k), np.float32)
             for k in ("mean", "components", "sd", "coeffs", "placements", "pose_range")}
        atomic_write_bytes(path, save(t, metadata={"kind": "shape68", "info": json.dumps(self.info,
                                                                                        sort_keys=True)}))

    @classmethod
    def load(cls, path: str | Path | None = None) -> ShapeModel:
        """Load a model (default: the shipped ``SHAPE_FILE``)."""
        from safetensors import safe_open

        p = SHAPE_FILE if path is None else Path(path)
        if not p.is_file():
            raise InputError("shape model not found", p)
        try:
            with safe_open(str(p), framework="np") as f:
                meta = f.metadata() or {}
                t = {k: f.get_tensor(k).astype(np.float64) for k in f.keys()}  # noqa: SIM118 - a safetensors file handle
        except Exception as e:  # safetensors raises several types for a corrupt header
            raise InputError(f"not a readable safetensors file ({e})", p) from None
        need = {"mean", "components", "sd", "coeffs", "placements", "pose_range"}
        if meta.get("kind") != "shape68" or not need <= t.keys():
            raise InputError("not a 68-point shape model (kind=shape68)", p)
        return cls(t["mean"], t["components"], t["sd"], t["coeffs"], t["placements"], t["pose_range"],
                   json.loads(meta.get("info", "{}")))
