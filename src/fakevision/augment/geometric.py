"""Geometric operations: each one is a 3x3 matrix in corner-based coordinates (design.md §3) built from drawn
parameters, and ``functional.geometry.warp_sample`` moves the image and every annotation by it.

Rotations and zooms turn about the image centre ``(W/2, H/2)``; a positive angle turns the picture
counter-clockwise as seen on screen (OpenCV's convention). ``border`` is how the *image* is filled where the warp
looks outside it ("constant" with ``fill``, "reflect", "replicate"); masks, label maps and depth are always
filled with 0, since a reflected object would be an object without an annotation. Normal maps move like depth and
their vectors turn with the picture (a flip negates nx or ny, a rotation turns (nx, ny), zoom and translation keep
them unchanged; ``functional.geometry.warp_normals``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from fakevision.augment.base import Params, Spec, Transform, as_spec, draw_spec
from fakevision.augment.functional.geometry import translation, warp_sample
from fakevision.core.sample import Sample

Border = Literal["constant", "reflect", "replicate"]


def about_centre(linear: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 2x2 linear map applied about the image centre, as a 3x3 corner-convention matrix."""
    m = np.eye(3)
    m[:2, :2] = linear
    cx, cy = width / 2.0, height / 2.0
    return translation(cx, cy) @ m @ translation(-cx, -cy)


def rotation_linear(angle_deg: float) -> np.ndarray:
    """Counter-clockwise on screen (y points down), like ``cv2.getRotationMatrix2D``."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, s], [-s, c]])


class GeometricTransform(Transform):
    """Base of ops that are a matrix: subclasses implement ``matrix(params, height, width)``, and
    ``output_size(params, height, width)`` when they change the image size.

    ``interpolation`` (None for the rotation/zoom family; the crop/resize ops set it) lets a warp that is an
    axis-aligned window onto the canvas be cut out and ``cv2.resize``d (``functional.geometry.warp_array``); only
    "linear" ops fuse with the matrix ops (one ``warpAffine`` pass), other interpolations warp by themselves.
    """

    kind = "geometric"
    interpolation: str | None = None

    def __init__(self, p: float = 1.0, border: Border = "constant", fill: float = 0.0) -> None:
        super().__init__(p)
        if border not in ("constant", "reflect", "replicate"):
            raise ValueError(f"{type(self).__name__}: border must be constant, reflect or replicate, got {border!r}")
        self.border = border
        self.fill = float(fill)

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        raise NotImplementedError

    def output_size(self, params: Params, height: int, width: int) -> tuple[int, int]:
        return height, width

    def geometry(self, params: Params, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]] | None:
        if not params.get("applied", True):
            return np.eye(3), (height, width)
        return self.matrix(params, height, width), self.output_size(params, height, width)

    def warp_key(self) -> tuple[Any, ...] | None:
        if self.interpolation in (None, "linear"):
            return (self.border, self.fill)
        return (self.border, self.fill, self.interpolation)

    def apply_applied(self, sample: Sample, params: Params) -> Sample:
        m, out_hw = self.geometry(params, sample.height, sample.width)  # type: ignore[misc]
        return warp_sample(sample, m, out_hw, border=self.border, fill=self.fill, interpolation=self.interpolation)


class HorizontalFlip(GeometricTransform):
    """Mirror left-right: x -> W - x; keypoint names swap via the schema's ``flip_perm``.

    >>> from fakevision.core import Annotations, Sample
    >>> s = Sample(np.zeros((2, 8, 3), np.uint8), Annotations(categories=["a"], boxes=[[0, 0, 2, 1]]))
    >>> HorizontalFlip(p=1.0)(s, np.random.default_rng(0)).annotations.boxes.tolist()
    [[6.0, 0.0, 8.0, 1.0]]
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)

    def warp_key(self) -> None:
        return None  # an exact pixel permutation: needs no border, so it fuses with any warp

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        return np.array([[-1.0, 0.0, float(width)], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


class VerticalFlip(GeometricTransform):
    """Mirror top-bottom: y -> H - y (a mirror too, so left/right keypoint names swap as well).

    >>> VerticalFlip(p=1.0).matrix({}, 10, 4)[1].tolist()
    [0.0, -1.0, 10.0]"""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)

    def warp_key(self) -> None:
        return None  # an exact pixel permutation: needs no border, so it fuses with any warp

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        return np.array([[1.0, 0.0, 0.0], [0.0, -1.0, float(height)], [0.0, 0.0, 1.0]])


class Rotate(GeometricTransform):
    """Rotate about the image centre by an angle in degrees drawn from ``angle``.

    >>> r = Rotate(angle=90, p=1.0)
    >>> r.matrix({"angle": 90.0}, 4, 4).round(6)[:2].tolist()    # (4, 2) -> (2, 0): counter-clockwise
    [[0.0, 1.0, 0.0], [-1.0, 0.0, 4.0]]
    """

    def __init__(self, angle: Spec = (-15.0, 15.0), p: float = 1.0, border: Border = "constant",
                 fill: float = 0.0) -> None:
        super().__init__(p, border, fill)
        self.angle = as_spec(angle, "angle", -360, 360)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"angle": draw_spec(rng, self.angle)}

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        return about_centre(rotation_linear(params["angle"]), height, width)


class Zoom(GeometricTransform):
    """Scale about the image centre by a factor drawn from ``scale`` (> 1 zooms in, < 1 out); size is kept.

    >>> Zoom(scale=2.0).matrix({"scale": 2.0}, 10, 10)[:2].tolist()   # (5, 5) stays, (0, 0) -> (-5, -5)
    [[2.0, 0.0, -5.0], [0.0, 2.0, -5.0]]"""

    def __init__(self, scale: Spec = (0.8, 1.2), p: float = 1.0, border: Border = "constant",
                 fill: float = 0.0) -> None:
        super().__init__(p, border, fill)
        self.scale = as_spec(scale, "scale", 1e-3, 1e3)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"scale": draw_spec(rng, self.scale)}

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        return about_centre(np.eye(2) * params["scale"], height, width)


class Translate(GeometricTransform):
    """Shift by fractions of the image size drawn from ``x`` and ``y`` (stored in pixels).

    >>> from fakevision.core import Sample
    >>> Translate(x=0.25, y=0.0).sample_params(np.random.default_rng(0), Sample(np.zeros((8, 8, 3), np.uint8)))
    {'applied': True, 'dx': 2.0, 'dy': 0.0}"""

    def __init__(self, x: Spec = (-0.1, 0.1), y: Spec = (-0.1, 0.1), p: float = 1.0, border: Border = "constant",
                 fill: float = 0.0) -> None:
        super().__init__(p, border, fill)
        self.x = as_spec(x, "x", -1, 1)
        self.y = as_spec(y, "y", -1, 1)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"dx": draw_spec(rng, self.x) * sample.width, "dy": draw_spec(rng, self.y) * sample.height}

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        return translation(params["dx"], params["dy"])


class Affine(GeometricTransform):
    """Zoom, rotation, shear (degrees, along x) about the centre, then translation (fractions of the size).

    The matrix is ``T(translate) @ C @ Rotate @ Shear @ Scale @ C^-1`` with ``C`` the move to the image centre.

    >>> m = Affine().matrix({"scale": 1.0, "angle": 0.0, "shear": 0.0, "dx": 3.0, "dy": -1.0}, 8, 8)
    >>> m.round(9)[:2].tolist()
    [[1.0, 0.0, 3.0], [0.0, 1.0, -1.0]]
    """

    def __init__(self, scale: Spec = (0.9, 1.1), angle: Spec = (-10.0, 10.0), shear: Spec = 0.0,
                 x: Spec = (-0.05, 0.05), y: Spec = (-0.05, 0.05), p: float = 1.0, border: Border = "constant",
                 fill: float = 0.0) -> None:
        super().__init__(p, border, fill)
        self.scale = as_spec(scale, "scale", 1e-3, 1e3)
        self.angle = as_spec(angle, "angle", -360, 360)
        self.shear = as_spec(shear, "shear", -80, 80)
        self.x = as_spec(x, "x", -1, 1)
        self.y = as_spec(y, "y", -1, 1)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {
            "scale": draw_spec(rng, self.scale),
            "angle": draw_spec(rng, self.angle),
            "shear": draw_spec(rng, self.shear),
            "dx": draw_spec(rng, self.x) * sample.width,
            "dy": draw_spec(rng, self.y) * sample.height,
        }

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        shear = np.array([[1.0, math.tan(math.radians(params["shear"]))], [0.0, 1.0]])
        lin = rotation_linear(params["angle"]) @ shear * params["scale"]
        return translation(params["dx"], params["dy"]) @ about_centre(lin, height, width)


class ScaleToObjectSize(GeometricTransform):
    """Scale so the largest instance ends up with a diameter drawn from ``size`` (pixels).

    Why: the iris phone-quality preset needs "iris diameter < 100 px" whatever the input resolution, so the
    scale depends on the data (like Albumentations' ``get_params_dependent_on_data``). The diameter is the larger
    side of the instance's box (the tight box of its mask when there is one). No instance: scale 1.
    ``keep_size=True`` zooms about the centre inside the same canvas (zooming out then needs ``border`` fill);
    ``keep_size=False`` resizes the whole image by the scale (output ``round(H*s) x round(W*s)``, nothing to
    fill: a phone simply puts fewer pixels on the eye). Inside a ``Compose`` it sees the Compose's input, so
    place it before other geometric ops.

    >>> from fakevision.core import Annotations, Sample
    >>> s = Sample(np.zeros((240, 320, 3), np.uint8), Annotations(categories=["iris"], boxes=[[100, 60, 210, 170]]))
    >>> out = ScaleToObjectSize(size=55, keep_size=False)(s, np.random.default_rng(0))
    >>> out.image.shape, out.annotations.boxes.tolist()
    ((120, 160, 3), [[50.0, 30.0, 105.0, 85.0]])
    """

    def __init__(self, size: Spec = (40.0, 95.0), keep_size: bool = True, p: float = 1.0,
                 border: Border = "constant", fill: float = 0.0) -> None:
        super().__init__(p, border, fill)
        self.size = as_spec(size, "size", 1, 1e5)
        self.keep_size = bool(keep_size)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        target = draw_spec(rng, self.size)
        b = sample.annotations.boxes
        if b.shape[0] == 0:
            return {"scale": 1.0, "target": target, "diameter": None}
        diam = float(np.max(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])))
        scale = target / diam if diam > 0 else 1.0
        return {"scale": scale, "target": target, "diameter": diam}

    def output_size(self, params: Params, height: int, width: int) -> tuple[int, int]:
        if self.keep_size:
            return height, width
        return max(1, round(height * params["scale"])), max(1, round(width * params["scale"]))

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        if self.keep_size:
            return about_centre(np.eye(2) * params["scale"], height, width)
        oh, ow = self.output_size(params, height, width)
        return np.diag([ow / width, oh / height, 1.0])  # the image maps exactly onto the new canvas
