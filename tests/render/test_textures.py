"""The procedural textures and backgrounds against their plain definitions: ``bake_pattern`` builds patterns from
1-D index vectors and a 2-level table, ``bake_background`` blends per colour plane; both must give the pixels of
the straightforward full-grid formulas they replaced."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fakevision.render.scene import Background
from fakevision.render.textures import (
    PATTERN_DARK,
    _smooth_noise,
    bake_background,
    bake_grey,
    bake_pattern,
)


def _plain_pattern(kind: str, cells: int, variant: int, size: int) -> np.ndarray:
    """The definition: per-pixel formulas on an ``np.mgrid`` of the texture."""
    yy, xx = np.mgrid[0:size, 0:size]
    cell = size / max(cells, 1)
    if kind == "plain":
        t = np.zeros((size, size), np.float32)
    elif kind == "checker":
        t = ((xx // cell + yy // cell) % 2).astype(np.float32)
    elif kind == "stripes":
        t = ((xx // cell) % 2).astype(np.float32)
    elif kind == "noise":
        t = _smooth_noise(np.random.default_rng([variant, cells, size]), size, cells)
    else:
        cx, cy = (xx % cell) - cell / 2, (yy % cell) - cell / 2
        t = (np.hypot(cx, cy) < cell * (0.25 + 0.05 * (variant % 4))).astype(np.float32)
    grey = 1.0 - (1.0 - PATTERN_DARK) * t
    return np.repeat(np.clip(np.rint(grey * 255), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize("kind", ["plain", "checker", "stripes", "noise", "dots"])
def test_patterns_equal_their_plain_definition(kind: str) -> None:
    for size in (5, 128, 256):
        for cells in (1, 3, 7):
            for variant in (0, 1, 3):
                got = bake_pattern(kind, cells, variant, size)
                np.testing.assert_array_equal(got, _plain_pattern(kind, cells, variant, size))
                assert got.flags.c_contiguous and got.dtype == np.uint8
                np.testing.assert_array_equal(bake_grey(kind, cells, variant, size), got[..., 0])


@pytest.mark.parametrize("kind", ["gradient", "noise"])
def test_backgrounds_equal_their_plain_definition(kind: str) -> None:
    for seed, (w, h) in enumerate([(256, 256), (128, 96), (7, 13)]):
        bg = Background(kind, (0.1 * seed, 0.5, 0.9), (0.9, 0.2, 0.3), seed=seed)
        c1, c2 = np.asarray(bg.colour, np.float32), np.asarray(bg.colour2, np.float32)
        if kind == "gradient":
            t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None] * np.ones((1, w, 1), np.float32)
        else:
            t = _smooth_noise(np.random.default_rng(bg.seed), max(w, h), 6)[:h, :w, None]
        plain = np.clip(np.rint((c1 * (1 - t) + c2 * t) * 255), 0, 255).astype(np.uint8)
        got = bake_background(bg, w, h)
        np.testing.assert_array_equal(got, plain)
        assert got.flags.c_contiguous and got.shape == (h, w, 3)
        assert cv2.cvtColor(got, cv2.COLOR_RGB2GRAY).shape == (h, w)  # an ordinary OpenCV image
