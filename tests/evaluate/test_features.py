"""The no-download extractors: fixed (machine-independent) weights, sensible sensitivity, input handling."""

from __future__ import annotations

import numpy as np
import pytest

from fakevision.core.errors import InputError
from fakevision.evaluate.distances import fid_from_features
from fakevision.evaluate.features import PixelExtractor, RandConvExtractor, get_extractor


def test_randconv_weights_are_fixed_numbers():
    # Pinned values: the weights come from numpy's PCG64 stream, so they must never change silently (a change
    # would make old and new FID numbers incomparable while carrying the same extractor name).
    w = RandConvExtractor().weights[0]
    assert w.shape == (32, 3, 3, 3)
    np.testing.assert_allclose(float(w.sum()), float(RandConvExtractor().weights[0].sum()))
    rng = np.random.Generator(np.random.PCG64(20170324))
    np.testing.assert_allclose(w.numpy().ravel()[:4], (rng.standard_normal(4) * np.sqrt(2 / 27)).astype(np.float32))


def test_randconv_distance_ranks_shifts():
    rng = np.random.default_rng(0)
    base = rng.integers(60, 200, (60, 32, 32, 3)).astype(np.uint8)
    base = np.stack([np.clip(b.astype(int) + rng.integers(-80, 80), 0, 255).astype(np.uint8) for b in base])
    same = np.stack([np.clip(b.astype(int) + rng.integers(-80, 80), 0, 255).astype(np.uint8) for b in base[::-1]])
    dark = (base * 0.5).astype(np.uint8)
    ext = RandConvExtractor()
    f0, f1, f2 = ext(base), ext(same), ext(dark)
    assert fid_from_features(f0, f1).value < fid_from_features(f0, f2).value


def test_pixels_invariant_to_brightness_contrast():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 200, (32, 32, 3)).astype(np.uint8)
    f = PixelExtractor()(np.stack([img, (img * 1.2 + 10).astype(np.uint8)]))
    assert np.linalg.norm(f[0] - f[1]) < 0.02


def test_inputs_grey_float_and_errors():
    ext = get_extractor("randconv-v1")
    out = ext([np.zeros((20, 30), np.uint8), np.zeros((64, 64, 4), np.uint8), np.ones((10, 10, 1), np.float32)])
    assert out.shape == (3, 480)
    with pytest.raises(InputError, match="no images"):
        ext([])
    with pytest.raises(InputError, match="image 0"):
        ext([np.zeros((4, 4, 2), np.uint8)])
    with pytest.raises(ValueError, match="unknown feature extractor"):
        get_extractor("clip")
