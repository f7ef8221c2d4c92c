"""Face reshaping by the shape model's modes: ``LandmarkWarp``.

Why: faces in a training set come in the shapes their owners have; a landmark model sees more shapes if each face
is reshaped — a wider jaw, a turned nose, a raised brow — the way real shapes vary. The 68-point shape model
(``fakevision.faces.shape``) says how: every face with ``ibug68`` landmarks is fitted (its mode coefficients b and
its placement), b is moved by a normal step of ``strength`` standard deviations along each of the first ``modes``
modes (kept within 3 sd), and the image is warped by the exact piecewise-affine warp (``functional.dense``) so the
old landmarks land on the new shape. Every annotation moves with the pixels, as with the other dense ops: the
landmarks are the warp's control points and land on the new shape exactly; masks, label maps and depth are
resampled nearest; boxes come from the moved masks or outlines.

Samples without a face (no ``ibug68`` keypoints, or a face with unlabelled points) keep their pixels (the identity
map).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from fakevision.augment.base import Params, Spec, as_spec, draw_spec
from fakevision.augment.functional.dense import DenseMap, PiecewiseAffineWarp
from fakevision.augment.geometric import Border
from fakevision.augment.nonrigid import DenseTransform
from fakevision.core.sample import Sample


@lru_cache(maxsize=1)
def _shape_model() -> Any:
    from fakevision.faces.shape import ShapeModel

    return ShapeModel.load()


class LandmarkWarp(DenseTransform):
    """Reshape each face along the shape model's first ``modes`` modes by ``strength`` standard deviations (a
    normal step per mode, drawn per sample); landmarks land exactly on the new shape.

    >>> from fakevision.core import Annotations, Sample
    >>> from fakevision.faces.shape import ShapeModel
    >>> pts = ShapeModel.load().sample(1, np.random.default_rng(0), size=64)
    >>> s = Sample(np.zeros((64, 64, 3), np.uint8), Annotations(categories=["face"], boxes=[[0, 0, 64, 64]],
    ...            keypoints=pts, keypoint_schema="ibug68"))
    >>> t = LandmarkWarp(strength=1.0)
    >>> params = t.sample_params(np.random.default_rng(1), s)
    >>> moved = t.apply(s, params).annotations.keypoints[0]
    >>> bool(np.abs(moved - pts[0]).max() > 0.5), bool(np.array_equal(moved, np.reshape(params["dst"], (68, 2))))
    (True, True)
    """

    def __init__(self, strength: Spec = (0.3, 1.0), modes: int = 10, p: float = 1.0, border: Border = "replicate",
                 fill: float = 0.0) -> None:
        super().__init__(p, border, fill)
        self.strength = as_spec(strength, "strength", 0, 3)
        if not 1 <= int(modes) <= 136:
            raise ValueError(f"LandmarkWarp: modes must be in [1, 136], got {modes}")
        self.modes = int(modes)

    @staticmethod
    def _faces(sample: Sample) -> np.ndarray:
        a = sample.annotations
        schema = getattr(a.keypoint_schema, "name", a.keypoint_schema)
        if a.keypoints is None or schema != "ibug68" or not len(a.keypoints):
            return np.zeros((0, 68, 2))
        keep = np.ones(len(a.keypoints), bool) if a.visibility is None else (a.visibility > 0).all(1)
        return np.asarray(a.keypoints, np.float64)[keep]

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        faces = self._faces(sample)
        strength = draw_spec(rng, self.strength)
        if not len(faces):  # nothing to reshape: the identity map (the camera still says how pinhole it is)
            return {"strength": strength, "src": [], "dst": []}
        m = _shape_model()
        k = min(self.modes, m.num_modes)
        side = float(max(sample.height, sample.width))
        b, pl = m.params(faces / side)
        step = np.zeros_like(b)
        step[:, :k] = rng.normal(0.0, strength, (len(faces), k)) * m.sd[:k]
        new = m.place(m.instance(np.clip(b + step, -3 * m.sd, 3 * m.sd)), pl) * side
        # the residual the model cannot express (the face's own detail) rides along: only the modes' change moves
        new = new + (faces - m.place(m.instance(b), pl) * side)
        # full precision: the landmarks are the warp's control points only if src equals them exactly
        return {"strength": strength, "src": faces.reshape(-1, 2).tolist(), "dst": new.reshape(-1, 2).tolist()}

    def dense_map(self, params: Params, height: int, width: int) -> DenseMap:
        if not params.get("src"):  # no face to reshape
            return DenseMap.identity(height, width)
        src = np.asarray(params["src"], np.float64)
        dst = np.asarray(params["dst"], np.float64)
        return PiecewiseAffineWarp(dst, (height, width)).map(src)
