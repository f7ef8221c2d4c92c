"""Non-rigid geometric operations: each one is a dense backward map built from drawn parameters, and
``functional.dense.remap_sample`` moves the image and every annotation by it (keypoints through the map's inverse,
solved per point; see that module for the rules per annotation kind).

They never fuse with their neighbours in a ``Compose`` (a map is not a matrix): each warps by itself, one
interpolation. ``border`` / ``fill`` are how the *image* is filled where the map looks outside it, as in the matrix
ops; masks, label maps and depth are filled with 0.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from fakevision.augment.base import Params, Spec, Transform, as_spec, draw_spec
from fakevision.augment.functional.dense import DenseMap, PiecewiseAffineWarp, remap_sample
from fakevision.augment.geometric import Border
from fakevision.core.sample import Sample


class DenseTransform(Transform):
    """Base of ops that are a dense backward map: subclasses implement ``dense_map(params, height, width)``."""

    kind = "geometric"

    def __init__(self, p: float = 1.0, border: Border = "constant", fill: float = 0.0) -> None:
        super().__init__(p)
        if border not in ("constant", "reflect", "replicate"):
            raise ValueError(f"{type(self).__name__}: border must be constant, reflect or replicate, got {border!r}")
        self.border = border
        self.fill = float(fill)

    def dense_map(self, params: Params, height: int, width: int) -> DenseMap:
        raise NotImplementedError

    def geometry(self, params: Params, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]] | None:
        if not params.get("applied", True):
            return np.eye(3), (height, width)
        return None  # not a matrix: warps by itself

    def warp_key(self) -> tuple[Any, ...] | None:
        return ()

    def apply_applied(self, sample: Sample, params: Params) -> Sample:
        dmap = self.dense_map(params, sample.height, sample.width)
        return remap_sample(sample, dmap, border=self.border, fill=self.fill)


def _int_spec(value: int | tuple[int, int] | list[int], name: str, lo: int) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        a = b = int(value)
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        a, b = int(value[0]), int(value[1])
    else:
        raise ValueError(f"{name}: expected an integer or an inclusive [lo, hi] pair of integers, got {value!r}")
    if not lo <= a <= b:
        raise ValueError(f"{name}: need {lo} <= lo <= hi, got [{a}, {b}]")
    return a, b


def grid_points(rows: int, cols: int, height: int, width: int) -> np.ndarray:
    """A ``rows x cols`` regular grid spanning the frame, corners and edges included (row-major, corner convention).

    >>> grid_points(2, 3, 10, 20).tolist()
    [[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [0.0, 10.0], [10.0, 10.0], [20.0, 10.0]]
    """
    xs = np.linspace(0.0, width, cols)
    ys = np.linspace(0.0, height, rows)
    return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)


@lru_cache(maxsize=8)  # one holds its triangle raster only (1 MB at 512²): a few image sizes, not every size seen
def _grid_warp(rows: int, cols: int, height: int, width: int) -> PiecewiseAffineWarp:
    """The piecewise-affine warp onto a regular grid, cached: every draw of ``PiecewiseAffine`` at one image size
    shares its triangulation and triangle raster (the target), only the source points differ. Without the sparse
    weights (``weights=False``): they would be ~6 MB a size at 512², built whenever a pipeline meets a new size,
    for a map that the triangles' affine maps give about as fast."""
    return PiecewiseAffineWarp(grid_points(rows, cols, height, width), (height, width), frame=0, weights=False)


class PiecewiseAffine(DenseTransform):
    """Local, smooth-looking distortions: a ``rows x cols`` regular grid over the image (edges included), each
    point jittered by a normal offset of standard deviation ``scale`` (drawn per sample, a fraction of the image
    width for x and height for y, as in scikit-image/imgaug/Albumentations); the picture is warped piecewise
    affinely so that the content at each jittered point lands on its grid point. Edge points move only along their
    edge and corners stay, so the frame keeps its content. The warp is exact (``functional.dense``): keypoints and
    box outlines move through the inverse of the very map the pixels moved by, and the target triangulation is
    cached per image size, so the op costs one sparse product and one remap per sample.

    >>> from fakevision.core import Annotations, Sample
    >>> s = Sample(np.zeros((32, 32, 3), np.uint8),
    ...            Annotations(categories=["a"], boxes=[[4, 4, 28, 28]], keypoints=np.full((1, 5, 2), 16.0)))
    >>> t = PiecewiseAffine(scale=0.04)
    >>> params = t.sample_params(np.random.default_rng(0), s)
    >>> len(params["offsets"]), t.apply(s, params).annotations.keypoints.shape     # 4 x 4 grid points
    (16, (1, 5, 2))
    """

    def __init__(self, scale: Spec = (0.03, 0.05), rows: int | tuple[int, int] = 4, cols: int | tuple[int, int] = 4,
                 p: float = 1.0, border: Border = "replicate", fill: float = 0.0) -> None:
        super().__init__(p, border, fill)
        self.scale = as_spec(scale, "scale", 0, 0.5)
        self.rows = _int_spec(rows, "rows", 2)
        self.cols = _int_spec(cols, "cols", 2)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        rows = int(rng.integers(self.rows[0], self.rows[1] + 1))
        cols = int(rng.integers(self.cols[0], self.cols[1] + 1))
        scale = draw_spec(rng, self.scale)
        off = rng.normal(0.0, scale, (rows, cols, 2)) * np.array([sample.width, sample.height])
        off[[0, -1], :, 1] = 0.0  # top and bottom edge points slide along their edge
        off[:, [0, -1], 0] = 0.0  # left and right ones too; corners stay
        grid = grid_points(rows, cols, sample.height, sample.width).reshape(rows, cols, 2)
        off = np.clip(grid + off, 0.0, [sample.width, sample.height]) - grid  # no source point outside the frame
        return {"rows": rows, "cols": cols, "scale": scale, "offsets": np.round(off, 6).reshape(-1, 2).tolist()}

    def dense_map(self, params: Params, height: int, width: int) -> DenseMap:
        rows, cols = params["rows"], params["cols"]
        src = grid_points(rows, cols, height, width) + np.asarray(params["offsets"], np.float64).reshape(-1, 2)
        return _grid_warp(rows, cols, height, width).map(src)


def elastic_field(seed: int, height: int, width: int, alpha: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The displacement field of ``ElasticTransform`` (pixels, two ``H x W`` float32 arrays): Simard's elastic
    distortion as Albumentations writes it, ``alpha x GaussianBlur(uniform(-1, 1), sigma)`` per axis, drawn from
    NumPy's PCG64 stream of ``seed`` (the same bytes on every platform and OpenCV version).

    Drawn at ``1/k`` of the resolution with ``k = max(1, floor(sigma / 2))`` (so the blur is never wider than a
    few pixels there), blurred with ``sigma / k``, scaled by ``k`` and resized up: blurring white noise by ``s``
    leaves a standard deviation proportional to ``1 / s`` per pixel of noise, so the coarse field is ``k`` times
    stronger and the division keeps the statistics of the full-resolution recipe, for a fraction of its cost (the
    field is smooth over ``sigma``: nothing finer than a few coarse pixels survives the blur anyway).

    >>> dx, dy = elastic_field(0, 64, 64, alpha=40.0, sigma=6.0)
    >>> dx.shape, dx.dtype.name, bool(0.3 < float(dx.std()) < 3.0)
    ((64, 64), 'float32', True)
    """
    field = _elastic_xy(seed, height, width, alpha, sigma)
    return np.ascontiguousarray(field[..., 0]), np.ascontiguousarray(field[..., 1])


def _elastic_xy(seed: int, height: int, width: int, alpha: float, sigma: float) -> np.ndarray:
    """``elastic_field`` as one ``H x W x 2`` float32 array (the layout of a map: one full-size array, no more)."""
    k = max(1, int(sigma // 2))
    ch, cw = -(-height // k) + 1, -(-width // k) + 1  # a coarse grid that covers the frame
    noise = np.random.default_rng(seed).uniform(-1.0, 1.0, (2, ch, cw)).astype(np.float32)
    s = sigma / k
    radius = max(1, int(np.ceil(3.0 * s)))
    coarse = cv2.merge([cv2.GaussianBlur(f, (2 * radius + 1, 2 * radius + 1), s, borderType=cv2.BORDER_REFLECT_101)
                        for f in noise])
    coarse *= alpha / k
    if k == 1:
        return np.ascontiguousarray(coarse[:height, :width])
    m = np.array([[1.0 / k, 0.0, 0.0], [0.0, 1.0 / k, 0.0]], np.float32)  # coarse (i, j) at full-res centre (kj, ki)
    return cv2.warpAffine(coarse, m, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


class ElasticTransform(DenseTransform):
    """Elastic distortion (Simard et al. 2003, as Albumentations/torchvision users know it): every pixel shows
    the point displaced by a smooth random field, ``alpha x GaussianBlur(uniform(-1, 1), sigma)`` per axis, in
    pixels (``elastic_field``; e.g. ``alpha=120, sigma=6`` is the common Albumentations setting). The field comes
    from a seed drawn into the params, so the warp replays from provenance. Keypoints go through the exact inverse
    of the map (Newton per point, ``functional.dense``): the landmark stays on its pixel, where a library that
    moves points by the displacement at the point itself (``identity - displacement``) is off by the field's change
    over the displacement, and Kornia's elastic op leaves them where they were.

    >>> from fakevision.core import Annotations, Sample
    >>> s = Sample(np.zeros((48, 48, 3), np.uint8), Annotations(categories=["a"], boxes=[[8, 8, 40, 40]],
    ...                                                         keypoints=np.full((1, 3, 2), 24.0)))
    >>> t = ElasticTransform(alpha=80.0, sigma=6.0)
    >>> p = t.sample_params(np.random.default_rng(0), s)
    >>> out = t.apply(s, p)
    >>> m = t.dense_map(p, 48, 48)                                    # the very map the pixels moved by ...
    >>> bool(np.abs(m.backward_points(out.annotations.keypoints) - 24.0).max() < 1e-3)   # ... shows them there
    True
    """

    def __init__(self, alpha: Spec = (30.0, 90.0), sigma: Spec = 6.0, p: float = 1.0, border: Border = "reflect",
                 fill: float = 0.0) -> None:
        super().__init__(p, border, fill)
        self.alpha = as_spec(alpha, "alpha", 0, 1e4)
        self.sigma = as_spec(sigma, "sigma", 0.5, 1e3)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"alpha": draw_spec(rng, self.alpha), "sigma": draw_spec(rng, self.sigma),
                "seed": int(rng.integers(0, 2**63 - 1))}

    def dense_map(self, params: Params, height: int, width: int) -> DenseMap:
        xy = _elastic_xy(params["seed"], height, width, params["alpha"], params["sigma"])
        xy[..., 0] += np.arange(width, dtype=np.float32)[None, :]  # displacement -> map, in place
        xy[..., 1] += np.arange(height, dtype=np.float32)[:, None]
        return DenseMap(xy, (height, width))


def grid_knots(steps: list[float], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(output knots, source knots) of one axis of ``GridDistortion``: ``len(steps)`` equal cells of the output,
    cell i showing a source cell ``steps[i]`` times as long (the steps are normalised to sum to their count, so the
    frame maps onto the frame).

    >>> [k.tolist() for k in grid_knots([0.5, 1.5], 10)]
    [[0.0, 5.0, 10.0], [0.0, 2.5, 10.0]]
    """
    s = np.asarray(steps, np.float64)
    s = s * len(s) / s.sum()
    out = np.linspace(0.0, size, len(s) + 1)
    src = np.concatenate([[0.0], np.cumsum(s) * size / len(s)])
    src[-1] = size
    return out, src


class GridDistortion(DenseTransform):
    """Grid distortion (as in Albumentations): the image is cut into ``num_steps`` equal columns and rows; each
    column shows a source column ``1 + d`` times as wide, ``d`` drawn uniformly in ``distort_limit`` (likewise rows),
    the widths normalised so the frame maps onto the frame. Each axis is a piecewise-linear, increasing map, so its
    inverse is exact and cheap: keypoints and box outlines move through it exactly (no Newton needed).

    >>> t = GridDistortion(num_steps=4, distort_limit=0.3)
    >>> from fakevision.core import Sample
    >>> p = t.sample_params(np.random.default_rng(0), Sample(np.zeros((32, 32, 3), np.uint8)))
    >>> len(p["x_steps"]), len(p["y_steps"])
    (4, 4)
    """

    def __init__(self, num_steps: int = 5, distort_limit: Spec = (-0.3, 0.3), p: float = 1.0,
                 border: Border = "reflect", fill: float = 0.0) -> None:
        super().__init__(p, border, fill)
        if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or not 1 <= num_steps <= 100:
            raise ValueError(f"GridDistortion: num_steps must be an integer in 1..100, got {num_steps!r}")
        self.num_steps = int(num_steps)
        spec = as_spec(distort_limit, "distort_limit", -0.95, 10)
        self.distort_limit = (-float(spec), float(spec)) if isinstance(spec, float) else spec

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        n = self.num_steps
        return {"x_steps": [1.0 + draw_spec(rng, self.distort_limit) for _ in range(n)],
                "y_steps": [1.0 + draw_spec(rng, self.distort_limit) for _ in range(n)]}

    def dense_map(self, params: Params, height: int, width: int) -> DenseMap:
        xo, xs = grid_knots(params["x_steps"], width)
        yo, ys = grid_knots(params["y_steps"], height)
        mx = np.interp(np.arange(width) + 0.5, xo, xs) - 0.5  # pixel-centre convention
        my = np.interp(np.arange(height) + 0.5, yo, ys) - 0.5
        xy = np.empty((height, width, 2), np.float32)
        xy[..., 0] = mx[None, :]
        xy[..., 1] = my[:, None]

        def forward(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return np.stack([_pl(p[:, 0], xs, xo), _pl(p[:, 1], ys, yo)], -1), np.ones(len(p), bool)

        def backward(q: np.ndarray) -> np.ndarray:
            return np.stack([_pl(q[:, 0], xo, xs), _pl(q[:, 1], yo, ys)], -1)

        def jacobian() -> np.ndarray:
            jac = np.zeros((height, width, 2, 2))
            jac[..., 0, 0] = _slope(np.arange(width) + 0.5, xo, xs)[None, :]
            jac[..., 1, 1] = _slope(np.arange(height) + 0.5, yo, ys)[:, None]
            return jac

        knots = np.stack(np.meshgrid(xo, yo), -1).reshape(-1, 2)  # where the cells' corners meet
        return DenseMap(xy, (height, width), forward=forward, backward=backward, jacobian=jacobian, knots=knots)


def _pl(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """The piecewise-linear map through knots (xp, fp), continued linearly beyond the ends (``np.interp`` would
    clamp: a point outside the frame must stay outside)."""
    y = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    y[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    y[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return y


def _slope(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    i = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    return (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i])
