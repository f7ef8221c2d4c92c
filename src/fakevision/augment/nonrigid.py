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


@lru_cache(maxsize=32)
def _grid_warp(rows: int, cols: int, height: int, width: int) -> PiecewiseAffineWarp:
    """The piecewise-affine warp onto a regular grid, cached: every draw of ``PiecewiseAffine`` at one image size
    shares its triangulation, raster and weights (the target), only the source points differ."""
    return PiecewiseAffineWarp(grid_points(rows, cols, height, width), (height, width), frame=0)


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
