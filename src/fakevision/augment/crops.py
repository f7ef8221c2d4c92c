"""Crops, resizes and pads: the operations of nearly every training pipeline, as matrices like the other geometric
ops, so they fuse with them into one warp and move every annotation the same way: keypoints that leave the crop
get visibility 0 and are kept (schemas keep their length), boxes are clipped (the tight box of the cropped mask
where there is one), masks, label maps, depth and normals are cropped and resized with nearest neighbour, and the
render camera's ``K`` (``extras["camera"]``) follows, so a cropped and resized render is still a pinhole image
(``functional.geometry.warp_camera``).

Windows are whole pixels (a crop starts and ends on pixel edges), so a crop alone is a copy, and a crop followed
by a resize is one ``cv2.resize`` of the cut-out window with ``interpolation`` ("linear", "area", "cubic",
"nearest"; annotations always nearest). A window that reaches outside the image is filled by ``border`` / ``fill``
as in the other ops (annotations: 0).

Inside a ``Compose`` every op's parameters are drawn from the Compose's *input* (that is what makes the params
replayable), but an op is applied to whatever size the ops before it left. So these ops settle sizes when they are
applied: ``PadIfNeeded`` and ``CenterCrop`` place by the size they see, and the windows of ``RandomResizedCrop`` and
``CropAroundObject`` (drawn on the input) are scaled with the image if an earlier op resized it (rounded to whole
pixels). An earlier rotation is not followed: put ``CropAroundObject`` first, like ``ScaleToObjectSize``.

>>> import numpy as np
>>> from fakevision.augment import Compose, LongestMaxSize, PadIfNeeded
>>> from fakevision.core import Annotations, Sample
>>> s = Sample(np.zeros((300, 400, 3), np.uint8), Annotations(categories=["a"], boxes=[[0, 0, 400, 300]]))
>>> letterbox = Compose([LongestMaxSize(max_size=128), PadIfNeeded(min_height=128, min_width=128)])
>>> out = letterbox(s, np.random.default_rng(0))
>>> out.image.shape, out.annotations.boxes.tolist()          # letterbox: scaled to 128 x 96, padded 16 px top/bottom
((128, 128, 3), [[0.0, 16.0, 128.0, 112.0]])
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from fakevision.augment.base import Params, Spec, as_spec, draw_spec
from fakevision.augment.functional.geometry import INTERPOLATIONS, translation
from fakevision.augment.geometric import Border, GeometricTransform
from fakevision.core.sample import Sample

Interpolation = Literal["linear", "area", "cubic", "nearest"]
Position = Literal["center", "top_left", "top_right", "bottom_left", "bottom_right", "random"]


def window_matrix(x0: float, y0: float, w: float, h: float, out_h: int, out_w: int) -> np.ndarray:
    """The matrix taking the source window ``[x0, x0 + w) x [y0, y0 + h)`` exactly onto an ``out_h x out_w``
    canvas (corner convention).

    >>> window_matrix(10, 20, 50, 100, 100, 100)[:2].tolist()
    [[2.0, 0.0, -20.0], [0.0, 1.0, -20.0]]
    """
    return np.diag([out_w / w, out_h / h, 1.0]) @ translation(-x0, -y0)


def scaled_window(window: list[int], in_hw: list[int], hw: tuple[int, int]) -> list[int]:
    """A whole-pixel window ``[x0, y0, x1, y1]`` drawn on an ``in_hw`` image, for the image of size ``hw`` it is
    applied to (scaled and rounded to whole pixels when an earlier op resized the image; unchanged otherwise).

    >>> scaled_window([10, 20, 50, 60], [100, 100], (50, 50))
    [5, 10, 25, 30]
    """
    if tuple(in_hw) == tuple(hw):
        return list(window)
    sy, sx = hw[0] / in_hw[0], hw[1] / in_hw[1]
    x0, y0 = round(window[0] * sx), round(window[1] * sy)
    return [x0, y0, max(x0 + 1, round(window[2] * sx)), max(y0 + 1, round(window[3] * sy))]


def _size(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class _WindowOp(GeometricTransform):
    """Shared by the crop/resize ops: validated ``interpolation``, the pad border, ``p``."""

    def __init__(self, p: float, border: Border, fill: float, interpolation: str) -> None:
        super().__init__(p, border, fill)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{type(self).__name__}: interpolation must be one of {sorted(INTERPOLATIONS)}, "
                             f"got {interpolation!r}")
        self.interpolation = interpolation


class Resize(_WindowOp):
    """Resize to ``height x width`` (the aspect ratio is not kept; ``LongestMaxSize`` + ``PadIfNeeded`` letterbox).

    >>> Resize(height=50, width=200).matrix({}, 100, 100)[:2].tolist()
    [[2.0, 0.0, 0.0], [0.0, 0.5, 0.0]]
    """

    def __init__(self, height: int, width: int, interpolation: Interpolation = "linear", p: float = 1.0) -> None:
        super().__init__(p, "constant", 0.0, interpolation)
        self.height, self.width = _size(height, "height"), _size(width, "width")

    def output_size(self, params: Params, height: int, width: int) -> tuple[int, int]:
        return self.height, self.width

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        return window_matrix(0, 0, width, height, self.height, self.width)


class LongestMaxSize(_WindowOp):
    """Scale so the longer side becomes ``max_size`` (one of a list, drawn), keeping the aspect ratio: the output
    is ``round(H s) x round(W s)`` with ``s = max_size / max(H, W)`` (the image fills that canvas exactly).

    >>> LongestMaxSize(max_size=64).output_size({"max_size": 64}, 300, 400)
    (48, 64)
    """

    def __init__(self, max_size: int | list[int] = 512, interpolation: Interpolation = "linear",
                 p: float = 1.0) -> None:
        super().__init__(p, "constant", 0.0, interpolation)
        sizes = max_size if isinstance(max_size, (list, tuple)) else [max_size]
        if not sizes:
            raise ValueError("LongestMaxSize: max_size needs at least one size")
        self.max_size = [_size(v, "max_size") for v in sizes]

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        if len(self.max_size) == 1:
            return {"max_size": self.max_size[0]}
        return {"max_size": self.max_size[int(rng.integers(len(self.max_size)))]}

    def output_size(self, params: Params, height: int, width: int) -> tuple[int, int]:
        s = params["max_size"] / max(height, width)
        return max(1, round(height * s)), max(1, round(width * s))

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        oh, ow = self.output_size(params, height, width)
        return window_matrix(0, 0, width, height, oh, ow)


class PadIfNeeded(_WindowOp):
    """Pad to at least ``min_height x min_width`` (either may be None: that side is left alone), the image placed
    at ``position`` ("center": the extra split evenly, the odd pixel at the bottom/right, as Albumentations does;
    a corner; or "random", drawn). The padding is ``border`` / ``fill``; annotations get 0 there.

    >>> PadIfNeeded(min_height=10, min_width=4).matrix({}, 5, 4)[:2].tolist()     # 5 rows: 2 above, 3 below
    [[1.0, 0.0, 0.0], [0.0, 1.0, 2.0]]
    """

    def __init__(self, min_height: int | None = 512, min_width: int | None = 512, position: Position = "center",
                 border: Border = "constant", fill: float = 0.0, p: float = 1.0) -> None:
        super().__init__(p, border, fill, "linear")
        self.min_height = None if min_height is None else _size(min_height, "min_height")
        self.min_width = None if min_width is None else _size(min_width, "min_width")
        if position not in ("center", "top_left", "top_right", "bottom_left", "bottom_right", "random"):
            raise ValueError(f"PadIfNeeded: unknown position {position!r}")
        self.position = position

    def output_size(self, params: Params, height: int, width: int) -> tuple[int, int]:
        return max(height, self.min_height or 0), max(width, self.min_width or 0)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        if self.position == "random":  # where in the free space, as fractions: the space is known when applied
            return {"u": [float(rng.random()), float(rng.random())]}
        return {}

    def offsets(self, params: Params, height: int, width: int) -> tuple[int, int]:
        """(top, left) padding for an image of ``height x width``."""
        oh, ow = self.output_size(params, height, width)
        dy, dx = oh - height, ow - width
        if self.position == "random":
            fy, fx = params["u"]
            return min(dy, math.floor(fy * (dy + 1))), min(dx, math.floor(fx * (dx + 1)))
        top = {"center": dy // 2, "top_left": 0, "top_right": 0, "bottom_left": dy, "bottom_right": dy}[self.position]
        left = {"center": dx // 2, "top_left": 0, "top_right": dx, "bottom_left": 0, "bottom_right": dx}[self.position]
        return top, left

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        top, left = self.offsets(params, height, width)
        return translation(left, top)


class CenterCrop(_WindowOp):
    """The central ``height x width`` window (starting at ``(W - width) // 2``, ``(H - height) // 2``); a window
    larger than the image is padded with ``border`` / ``fill``.

    >>> CenterCrop(height=2, width=2).matrix({}, 5, 6)[:2].tolist()
    [[1.0, 0.0, -2.0], [0.0, 1.0, -1.0]]
    """

    def __init__(self, height: int, width: int, border: Border = "constant", fill: float = 0.0,
                 p: float = 1.0) -> None:
        super().__init__(p, border, fill, "linear")
        self.height, self.width = _size(height, "height"), _size(width, "width")

    def output_size(self, params: Params, height: int, width: int) -> tuple[int, int]:
        return self.height, self.width

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        return translation(-((width - self.width) // 2), -((height - self.height) // 2))


class RandomResizedCrop(_WindowOp):
    """A random window resized to ``height x width``, drawn as torchvision and Albumentations draw it: up to 10
    tries of an area fraction uniform in ``scale`` and an aspect ratio (width / height) log-uniform in ``ratio``,
    the first whole-pixel window that fits the image wins, at a uniform position; if none fits, the largest
    central window with the ratio clamped into ``ratio``.

    >>> from fakevision.core import Sample
    >>> t = RandomResizedCrop(height=32, width=32, scale=(0.5, 0.5), ratio=(1.0, 1.0))
    >>> p = t.sample_params(np.random.default_rng(0), Sample(np.zeros((100, 100, 3), np.uint8)))
    >>> p["w"], p["h"]                                          # sqrt(0.5 x 100 x 100) = 70.7 -> 71
    (71, 71)
    """

    def __init__(self, height: int, width: int, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (0.75, 4.0 / 3.0), interpolation: Interpolation = "linear",
                 p: float = 1.0) -> None:
        super().__init__(p, "constant", 0.0, interpolation)
        self.height, self.width = _size(height, "height"), _size(width, "width")
        s = as_spec(scale, "scale", 1e-6, 1.0)
        r = as_spec(ratio, "ratio", 1e-3, 1e3)
        if not isinstance(s, tuple) or not isinstance(r, tuple):
            raise ValueError("RandomResizedCrop: scale and ratio are [lo, hi] ranges")
        self.scale, self.ratio = s, r

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        h, w = sample.height, sample.width
        area = h * w
        log_r = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * float(rng.uniform(*self.scale))
            aspect = math.exp(float(rng.uniform(*log_r)))
            cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                return {"x0": int(rng.integers(w - cw + 1)), "y0": int(rng.integers(h - ch + 1)), "w": cw, "h": ch,
                        "in_hw": [h, w]}
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            cw, ch = w, max(1, round(w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            cw, ch = max(1, round(h * self.ratio[1])), h
        else:
            cw, ch = w, h
        return {"x0": (w - cw) // 2, "y0": (h - ch) // 2, "w": cw, "h": ch, "in_hw": [h, w]}

    def output_size(self, params: Params, height: int, width: int) -> tuple[int, int]:
        return self.height, self.width

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        x0, y0, x1, y1 = scaled_window([params["x0"], params["y0"], params["x0"] + params["w"],
                                        params["y0"] + params["h"]], params["in_hw"], (height, width))
        return window_matrix(x0, y0, x1 - x0, y1 - y0, self.height, self.width)


class CropAroundObject(_WindowOp):
    """Crop around one object with a margin: an instance's box (``target="instance"``) or the extent of its
    labelled keypoints (``target="keypoints"``, visibility > 0), picked by ``instance`` ("random", "largest" box
    area, or an index). Each side grows by ``margin`` (drawn) x the object's width or height; with ``height`` and
    ``width`` the window is first widened (about its centre) to that aspect ratio, then resized to that size,
    otherwise it is kept at its own size. The window is rounded outward to whole pixels and may reach outside the
    image (``border`` / ``fill``). Without any usable object the whole image is the window.

    >>> from fakevision.core import Annotations, Sample
    >>> s = Sample(np.zeros((100, 100, 3), np.uint8), Annotations(categories=["a"], boxes=[[40, 30, 60, 50]]))
    >>> t = CropAroundObject(margin=0.5)
    >>> p = t.sample_params(np.random.default_rng(0), s)
    >>> p["window"], t.apply(s, p).annotations.boxes.tolist()      # a 20 px box + 10 px on each side
    ([30, 20, 70, 60], [[10.0, 10.0, 30.0, 30.0]])
    """

    def __init__(self, target: Literal["instance", "keypoints"] = "instance",
                 instance: Literal["random", "largest"] | int = "random", margin: Spec = (0.1, 0.3),
                 height: int | None = None, width: int | None = None, interpolation: Interpolation = "linear",
                 border: Border = "constant", fill: float = 0.0, p: float = 1.0) -> None:
        super().__init__(p, border, fill, interpolation)
        if target not in ("instance", "keypoints"):
            raise ValueError(f"CropAroundObject: target must be instance or keypoints, got {target!r}")
        if not (instance in ("random", "largest") or (isinstance(instance, int) and not isinstance(instance, bool)
                                                     and instance >= 0)):
            raise ValueError(f"CropAroundObject: instance must be random, largest or an index, got {instance!r}")
        if (height is None) != (width is None):
            raise ValueError("CropAroundObject: give both height and width, or neither")
        self.target, self.instance = target, instance
        self.margin = as_spec(margin, "margin", 0, 10)
        self.height = None if height is None else _size(height, "height")
        self.width = None if width is None else _size(width, "width")

    def _extents(self, sample: Sample) -> list[tuple[int, np.ndarray]]:
        a = sample.annotations
        out = []
        for i in range(a.num_instances):
            if self.target == "instance":
                b = a.boxes[i]
            elif a.keypoints is not None and a.visibility is not None:
                pts = a.keypoints[i][a.visibility[i] > 0]
                if not len(pts):
                    continue
                b = np.concatenate([pts.min(0), pts.max(0)])
            else:
                continue
            if b[2] > b[0] or b[3] > b[1]:
                out.append((i, b))
        return out

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        h, w = sample.height, sample.width
        margin = draw_spec(rng, self.margin)
        found = self._extents(sample)
        if isinstance(self.instance, int):
            found = [f for f in found if f[0] == self.instance]
        if not found:
            return {"instance": None, "margin": margin, "window": [0, 0, w, h], "in_hw": [h, w]}
        if self.instance == "largest":
            i, b = max(found, key=lambda f: (f[1][2] - f[1][0]) * (f[1][3] - f[1][1]))
        elif self.instance == "random":
            i, b = found[int(rng.integers(len(found)))]
        else:
            i, b = found[0]
        bw, bh = b[2] - b[0], b[3] - b[1]
        x0, y0, x1, y1 = b[0] - margin * bw, b[1] - margin * bh, b[2] + margin * bw, b[3] + margin * bh
        if self.height is not None and self.width is not None:
            want = self.width / self.height  # widen the narrower side about the centre
            cw, ch = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
            if cw / ch < want:
                grow = (ch * want - cw) / 2
                x0, x1 = x0 - grow, x1 + grow
            else:
                grow = (cw / want - ch) / 2
                y0, y1 = y0 - grow, y1 + grow
        win = [math.floor(x0 + 1e-9), math.floor(y0 + 1e-9), math.ceil(x1 - 1e-9), math.ceil(y1 - 1e-9)]
        win[2], win[3] = max(win[2], win[0] + 1), max(win[3], win[1] + 1)
        return {"instance": i, "margin": margin, "window": win, "in_hw": [h, w]}

    def output_size(self, params: Params, height: int, width: int) -> tuple[int, int]:
        if self.height is not None and self.width is not None:
            return self.height, self.width
        x0, y0, x1, y1 = scaled_window(params["window"], params["in_hw"], (height, width))
        return y1 - y0, x1 - x0

    def matrix(self, params: Params, height: int, width: int) -> np.ndarray:
        x0, y0, x1, y1 = scaled_window(params["window"], params["in_hw"], (height, width))
        oh, ow = self.output_size(params, height, width)
        return window_matrix(x0, y0, x1 - x0, y1 - y0, oh, ow)
