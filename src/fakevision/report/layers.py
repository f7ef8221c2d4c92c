"""One sample as the report's layers: the picture at two sizes, and each annotation kind as its own layer that the
page switches on and off: instance masks (a transparent PNG), boxes and keypoints (vectors the page draws at any
zoom, with the schema's point names and skeleton), depth and surface normals (colour pictures).

Why layers and not one picture with everything burnt in: one can only judge an annotation against the pixels under
it, and a mask tint hides exactly the edge one wants to check. Why vectors for boxes and keypoints: a 64x64 face
shown at 640 px needs 2 px dots and hair-line skeletons, not dots the size of its eyes scaled up.

Coordinates stay in ours (design.md §3: (0, 0) is the top-left *corner*, pixel centres at +0.5): the page draws a
point at ``x / W`` of the picture's width, which is exact at any display size.
"""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

import cv2
import numpy as np

from fakevision.core.sample import Sample
from fakevision.io.images import encode_image

THUMB = 224  # longest side of a grid picture (px); cards show it at most this large
FULL = 1024  # longest side of the zoomed picture; larger samples are scaled down to it


def palette(i: int) -> tuple[int, int, int]:
    """A distinct, stable RGB colour for instance ``i`` (golden-ratio hues, as ``report.draw``).

    >>> palette(0) != palette(1)
    True
    """
    from fakevision.report.draw import palette as _palette

    return _palette(i)


def data_uri(img: np.ndarray, fmt: str = "png", quality: int = 90) -> str:
    """An image as a ``data:`` URI (PNG, or JPEG for photographic content: several times smaller).

    >>> data_uri(np.zeros((2, 2, 3), np.uint8))[:22]
    'data:image/png;base64,'
    """
    if fmt == "jpg":
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]) if img.ndim == 3 else img,
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
            raise ValueError("JPEG encoding failed")
        data, mime = buf.tobytes(), "jpeg"
    elif img.ndim == 3 and img.shape[2] == 4:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        data, mime = buf.tobytes(), "png"
    else:
        data, mime = encode_image(img, "png"), "png"
    return f"data:image/{mime};base64,{base64.b64encode(data).decode('ascii')}"


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """Any sample image (uint8 or float in [0, 1]; grey, RGB or RGBA) as H x W x 3 uint8.

    >>> as_rgb8(np.ones((2, 3, 1), np.float32)).shape, int(as_rgb8(np.ones((2, 3, 1), np.float32)).max())
    ((2, 3, 3), 255)
    """
    img = image
    if img.dtype != np.uint8:
        img = np.clip(img.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def fit(img: np.ndarray, longest: int, nearest: bool = False) -> np.ndarray:
    """``img`` scaled down so its longest side is at most ``longest`` (never up: the page scales up sharply)."""
    h, w = img.shape[:2]
    s = longest / max(h, w)
    if s >= 1:
        return img
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


@cache
def _lut(name: str) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.float32)


def colourise(values: np.ndarray, valid: np.ndarray, cmap: str = "magma", lo_hi: tuple[float, float] | None = None,
              reverse: bool = False) -> np.ndarray:
    """Map ``values`` to RGB through a perceptually uniform matplotlib colormap, without banding: the colour is
    interpolated between the map's 256 entries per channel (so each channel takes its own rounding, giving far more
    than 256 distinct colours) and a blue-noise-like ordered dither of half a level hides what steps remain.
    Invalid pixels are black. ``lo_hi`` defaults to the 1st and 99th percentiles of the valid values, so one
    far-away pixel does not flatten the rest.

    >>> v = np.linspace(0, 1, 1000)[None].repeat(2, 0)
    >>> pic = colourise(v, np.ones_like(v, bool))
    >>> len({tuple(c) for c in pic.reshape(-1, 3)}) > 600   # a smooth ramp, not 256 bands
    True
    """
    out = np.zeros(values.shape + (3,), np.uint8)
    if not valid.any():
        return out
    v = values[valid].astype(np.float64)
    lo, hi = lo_hi if lo_hi is not None else (float(np.percentile(v, 1)), float(np.percentile(v, 99)))
    t = np.clip((values.astype(np.float64) - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    if reverse:
        t = 1.0 - t
    pos = t * 255.0
    i0 = np.floor(pos).astype(np.int64).clip(0, 254)
    frac = (pos - i0)[..., None]
    lut = _lut(cmap)
    rgb = lut[i0] * (1.0 - frac) + lut[i0 + 1] * frac
    yy, xx = np.indices(values.shape)
    bayer = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float64) / 16.0 - 0.47
    rgb += bayer[yy % 4, xx % 4][..., None]
    out[valid] = np.clip(np.rint(rgb[valid]), 0, 255).astype(np.uint8)
    return out


def depth_picture(depth: np.ndarray) -> np.ndarray:
    """Depth as colour: near = bright (magma, perceptually uniform), no surface (depth 0) = black.

    >>> d = np.array([[1.0, 2.0, 0.0]], np.float32)
    >>> pic = depth_picture(d)
    >>> bool(pic[0, 0].sum() > pic[0, 1].sum()), pic[0, 2].tolist()
    (True, [0, 0, 0])
    """
    valid = np.isfinite(depth) & (depth > 0)
    return colourise(depth, valid, "magma", reverse=True)


def normals_picture(normals: np.ndarray) -> np.ndarray:
    """The usual normal-map colouring, RGB = (n + 1) / 2 in the camera frame (red = right, green = down, blue =
    away from the camera, so a surface facing the camera is olive); no surface is black.

    >>> n = np.zeros((1, 2, 3), np.float32); n[0, 0] = [0, 0, -1]
    >>> normals_picture(n).tolist()
    [[[128, 128, 0], [0, 0, 0]]]
    """
    n = np.asarray(normals, dtype=np.float32)
    pic = np.clip(np.rint((n + 1.0) * 127.5), 0, 255).astype(np.uint8)
    pic[~np.any(n != 0, axis=2)] = 0
    return pic


def mask_picture(masks: np.ndarray, alpha: int = 110) -> np.ndarray:
    """Instance masks as one RGBA picture: each instance tinted in its palette colour (the later instance on top,
    as in a label map), its outline opaque so edges can be judged, transparent elsewhere.

    >>> m = np.zeros((1, 6, 6), bool); m[0, 1:5, 1:5] = True
    >>> pic = mask_picture(m)
    >>> pic.shape, int(pic[0, 0, 3]), int(pic[1, 1, 3]), int(pic[2, 2, 3])
    ((6, 6, 4), 0, 255, 110)
    """
    n, h, w = masks.shape
    out = np.zeros((h, w, 4), np.uint8)
    for i in range(n):
        m = masks[i]
        if not m.any():
            continue
        out[m] = (*palette(i), alpha)
        edge = m & ~cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                              borderValue=0).astype(bool)
        out[edge] = (*palette(i), 255)
    return out


def _schema(schema: Any, k: int) -> tuple[str, list[str], list[list[int]]]:
    """Name, point names and skeleton of a keypoint schema (a ``KeypointSchema`` value, or a shipped schema's name);
    generic ``kp<i>`` names when it is unknown or does not fit ``k`` points."""
    if schema:
        try:
            from fakevision.core.keypoints import get_schema

            s = get_schema(schema)
            if s.num_keypoints == k:
                return str(s.name), list(s.names), [[int(a), int(b)] for a, b in s.skeleton]
        except (KeyError, ValueError, TypeError):
            pass
    return "generic", [f"kp{i}" for i in range(k)], []


def vectors(sample: Sample) -> dict[str, Any]:
    """Boxes, categories, colours and keypoints of ``sample`` as plain JSON for the page to draw (coordinates in
    pixels of the original image, our corner convention; rounded to 1/100 px).

    >>> from fakevision.core.sample import Annotations
    >>> s = Sample(np.zeros((4, 4, 3), np.uint8), Annotations(categories=["a"], boxes=[[1, 1, 3.5, 4]]))
    >>> vectors(s)["boxes"]
    [[1.0, 1.0, 3.5, 4.0]]
    """
    a = sample.annotations
    out: dict[str, Any] = {
        "boxes": np.round(a.boxes.astype(np.float64), 2).tolist(),
        "categories": list(a.categories),
        "colours": ["#{:02x}{:02x}{:02x}".format(*palette(i)) for i in range(a.num_instances)],
    }
    if a.keypoints is not None and a.visibility is not None:
        name, names, skeleton = _schema(a.keypoint_schema, a.keypoints.shape[1])
        out["keypoints"] = np.round(a.keypoints.astype(np.float64), 2).tolist()
        out["visibility"] = a.visibility.astype(int).tolist()
        out["kp_names"] = names
        out["skeleton"] = skeleton
        out["schema"] = name
    return out


def sample_layers(sample: Sample) -> dict[str, Any]:
    """Everything the page needs to show one sample: ``thumb`` and ``full`` pictures, ``masks``, ``depth`` and
    ``normals`` layers (data URIs, at the full picture's size; absent when the sample has none) and ``vectors``.

    >>> from fakevision.core.sample import Annotations
    >>> d = sample_layers(Sample(np.zeros((8, 10, 3), np.uint8), Annotations()))
    >>> d["w"], d["h"], "depth" in d, d["thumb"] == d["full"]
    (10, 8, False, True)
    """
    img = as_rgb8(sample.image)
    h, w = img.shape[:2]
    small = max(h, w) <= THUMB
    photo = h * w > 128 * 128  # JPEG for photographic pictures; tiny ones stay lossless (and small anyway)
    full = fit(img, FULL)
    fh, fw = full.shape[:2]
    out: dict[str, Any] = {"w": w, "h": h}
    out["full"] = data_uri(full, "jpg" if photo else "png", 92)
    out["thumb"] = out["full"] if small else data_uri(fit(img, THUMB), "jpg" if photo else "png", 85)
    a = sample.annotations
    if a.masks is not None and a.masks.size:
        m = a.masks
        if (fh, fw) != (h, w):
            m = np.stack([cv2.resize(x.astype(np.uint8), (fw, fh), interpolation=cv2.INTER_NEAREST) > 0 for x in m])
        out["masks"] = data_uri(mask_picture(m))
    if a.depth is not None:
        out["depth"] = data_uri(fit(depth_picture(a.depth), FULL, nearest=True), "jpg" if photo else "png", 92)
    if a.normals is not None:
        out["normals"] = data_uri(fit(normals_picture(a.normals), FULL, nearest=True), "jpg" if photo else "png", 92)
    out["vectors"] = vectors(sample)
    return out
