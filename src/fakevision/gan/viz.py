"""Sample grids and landmark drawing, for training logs and reports.

>>> import numpy as np
>>> grid = image_grid(np.zeros((5, 8, 8, 3), np.uint8), ncol=3, pad=1)
>>> grid.shape
(19, 28, 3)
"""

from __future__ import annotations

import cv2
import numpy as np


def image_grid(images: np.ndarray, ncol: int = 8, pad: int = 2, value: int = 255) -> np.ndarray:
    """Tile N x H x W x C uint8 images into one image, ``ncol`` per row, ``pad`` pixels apart."""
    n, h, w, c = images.shape
    nrow = -(-n // ncol)
    out = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), value, np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, ncol)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = img
    return out


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray, scale: int = 4,
                   color: tuple[int, int, int] = (0, 255, 0)) -> np.ndarray:
    """Upscale an RGB uint8 image by ``scale`` (nearest) and draw K x 2 landmarks (corner convention) on it."""
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    big = np.ascontiguousarray(big)
    # corner convention -> OpenCV pixel indices (centres at integers): subtract 0.5 after scaling
    for x, y in np.asarray(landmarks, dtype=np.float64) * scale - 0.5:
        cv2.circle(big, (int(round(x)), int(round(y))), max(1, scale // 2), color, -1, lineType=cv2.LINE_AA)
    return big
