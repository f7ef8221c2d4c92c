"""LandmarkWarp: faces reshaped along the shape model's modes; landmarks land exactly on the new shape and every
other annotation moves with the pixels."""

from __future__ import annotations

import numpy as np
import pytest

from fakevision.augment import LandmarkWarp
from fakevision.augment.config import build_op
from fakevision.core import Annotations, Sample
from fakevision.faces.shape import ShapeModel


def _face_sample(seed: int = 0) -> Sample:
    import cv2

    pts = ShapeModel.load().sample(1, np.random.default_rng(seed), size=96)
    img = np.full((96, 96, 3), 200, np.uint8)
    mask = np.zeros((1, 96, 96), bool)
    hull = cv2.convexHull(np.round(pts[0] * 16).astype(np.int32))
    m = np.zeros((96, 96), np.uint8)
    cv2.fillConvexPoly(m, hull, 1, cv2.LINE_AA, 4)
    mask[0] = m > 0
    for x, y in pts[0]:
        cv2.circle(img, (int(round(x * 16 - 8)), int(round(y * 16 - 8))), 16, (0, 0, 0), -1, cv2.LINE_AA, 4)
    return Sample(img, Annotations(categories=["face"], boxes=[[0, 0, 96, 96]], masks=mask, keypoints=pts,
                                   keypoint_schema="ibug68"))


def test_landmarks_land_on_the_new_shape_and_pixels_follow() -> None:
    s = _face_sample()
    t = LandmarkWarp(strength=1.5, modes=8)
    params = t.sample_params(np.random.default_rng(3), s)
    out = t.apply(s, params)
    new = np.reshape(params["dst"], (68, 2))
    np.testing.assert_array_equal(out.annotations.keypoints[0], new)  # control points: exact
    assert np.abs(new - s.annotations.keypoints[0]).max() > 1.0  # the face did change shape
    grey = out.image.astype(float).mean(2)
    inside = [(x, y) for x, y in new if 2 <= x <= 94 and 2 <= y <= 94]
    assert np.mean([grey[int(y), int(x)] for x, y in inside]) < 0.5 * grey.mean()  # the dots moved with them
    # the mask moved too: its box is the mask's tight box, and the new landmarks sit inside the moved hull
    assert out.annotations.masks[0].sum() > 0.8 * s.annotations.masks[0].sum()
    assert t.apply(s, params).image.tobytes() == out.image.tobytes()  # pure: same params, same bytes


def test_samples_without_a_face_pass_unchanged_and_config_builds() -> None:
    s = Sample(np.zeros((32, 32, 3), np.uint8), Annotations(label="x"))
    t = build_op({"op": "LandmarkWarp", "strength": [0.2, 0.5], "modes": 4})
    out = t.apply(s, t.sample_params(np.random.default_rng(0), s))
    assert out.image.tobytes() == s.image.tobytes()
    with pytest.raises(ValueError, match="modes"):
        LandmarkWarp(modes=0)
