"""Draw a sample's annotations onto its image (masks tinted, boxes, keypoints with skeleton, class labels).

Used by the HTML report and handy for looking at data by eye. Coordinates: ours are corner-based, OpenCV draws at
pixel centres, so a point (x, y) is drawn at (x - 0.5, y - 0.5) and a box [x0, x1) covers pixels x0 .. x1 - 1.
"""

from __future__ import annotations

import cv2
import numpy as np

from fakevision.core.sample import Sample

_SHIFT = 4  # sub-pixel drawing precision for OpenCV (1/16 px)


def palette(i: int) -> tuple[int, int, int]:
    """A distinct, stable RGB colour for instance ``i`` (golden-ratio hues)."""
    hue = int((i * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 200, 255]]], np.uint8)
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _pt(x: float, y: float, scale: float) -> tuple[int, int]:
    f = 1 << _SHIFT
    return int(round((x * scale - 0.5) * f)), int(round((y * scale - 0.5) * f))


def draw_sample(sample: Sample, min_size: int = 192) -> np.ndarray:
    """An RGB uint8 picture of ``sample`` with every annotation drawn; small images are upscaled to ``min_size``.

    >>> from fakevision.core.sample import Annotations
    >>> s = Sample(np.zeros((8, 8, 3), np.uint8), Annotations(categories=["a"], boxes=[[1, 1, 4, 4]]))
    >>> draw_sample(s, min_size=16).shape
    (16, 16, 3)
    """
    img = sample.image
    if img.dtype != np.uint8:
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = np.ascontiguousarray(img[:, :, :3])
    scale = max(1.0, min_size / max(1, min(img.shape[:2])))
    scale = float(int(np.ceil(scale)))
    if scale > 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    canvas = img.astype(np.float32)
    a = sample.annotations
    if a.masks is not None:
        for i, m in enumerate(a.masks):
            mm = cv2.resize(m.astype(np.uint8), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
            canvas[mm] = 0.55 * canvas[mm] + 0.45 * np.array(palette(i), np.float32)
    out = np.ascontiguousarray(canvas.astype(np.uint8))
    if a.masks is not None:
        for i, m in enumerate(a.masks):
            mm = cv2.resize(m.astype(np.uint8), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours(mm, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, palette(i), 1)
    for i, (box, cat) in enumerate(zip(a.boxes, a.categories, strict=True)):
        x0, y0, x1, y1 = box
        p0 = _pt(x0 + 0.5 / scale, y0 + 0.5 / scale, scale)
        p1 = _pt(x1 - 0.5 / scale, y1 - 0.5 / scale, scale)
        cv2.rectangle(out, p0, p1, palette(i), 1, cv2.LINE_AA, _SHIFT)
        cv2.putText(out, cat, (int(x0 * scale) + 2, max(10, int(y0 * scale) - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (255, 255, 255), 1, cv2.LINE_AA)
    if a.keypoints is not None and a.visibility is not None:
        skeleton = a.keypoint_schema.skeleton if a.keypoint_schema is not None else ()
        for i in range(a.keypoints.shape[0]):
            kp, vis = a.keypoints[i], a.visibility[i]
            for s, t in skeleton:
                if vis[s] > 0 and vis[t] > 0:
                    cv2.line(out, _pt(kp[s][0], kp[s][1], scale), _pt(kp[t][0], kp[t][1], scale), palette(i), 1, cv2.LINE_AA,
                             _SHIFT)
            for (x, y), v in zip(kp, vis, strict=True):
                if v == 0:
                    continue
                colour = (40, 255, 40) if v == 2 else (255, 200, 0)
                cv2.circle(out, _pt(x, y, scale), 2 << _SHIFT, colour, -1, cv2.LINE_AA, _SHIFT)
    if a.label is not None:
        cv2.putText(out, str(a.label), (3, out.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out


def outline_masks(sample: Sample, height: int = 180) -> np.ndarray:
    """An RGB uint8 picture of ``sample`` scaled to ``height`` rows with only the *outlines* of its instance masks
    (every boundary, holes included, so an iris annulus shows both limbus and pupil margin), in the instance's
    palette colour. Why not ``draw_sample``: tinted masks and boxes would hide the very texture and contrast a
    side-by-side comparison of real and rendered images is for.

    >>> from fakevision.core.sample import Annotations
    >>> m = np.zeros((1, 20, 20), bool); m[0, 5:15, 5:15] = True; m[0, 9:11, 9:11] = False
    >>> pic = outline_masks(Sample(np.zeros((20, 20), np.uint8), Annotations(categories=["iris"],
    ...                            boxes=[[5, 5, 15, 15]], masks=m)), height=40)
    >>> drawn = (pic == palette(0)).all(axis=2)
    >>> pic.shape, bool(drawn[10].any()), bool(drawn[17, 20])   # the outer outline and the hole's
    ((40, 40, 3), True, True)
    """
    img = sample.image
    if img.dtype != np.uint8:
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    h, w = img.shape[:2]
    width = max(1, int(round(w * height / h)))
    out = np.ascontiguousarray(cv2.resize(img[:, :, :3], (width, height),
                                          interpolation=cv2.INTER_AREA if height < h else cv2.INTER_LINEAR))
    masks = sample.annotations.masks
    if masks is not None:
        for i, m in enumerate(masks):
            mm = cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours(mm, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(out, contours, -1, palette(i), 1, cv2.LINE_8)
    return out
