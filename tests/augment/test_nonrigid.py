"""Non-rigid ops (dense backward maps): every annotation kind moves with the pixels, keypoints through the exact
inverse of the op's own map."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakevision.augment import Compose, PiecewiseAffine
from fakevision.augment.config import build_op
from fakevision.core.sample import boxes_from_masks
from tests.augment.helpers import NONRIGID, random_sample

PROPS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
seeds = st.integers(0, 2**31 - 1)


@pytest.mark.parametrize("name", sorted(NONRIGID))
@PROPS
@given(seed=seeds, h=st.integers(12, 48), w=st.integers(12, 48))
def test_keypoints_follow_the_inverse_of_the_map(name: str, seed: int, h: int, w: int) -> None:
    s = random_sample(seed, h, w)
    op = NONRIGID[name]()
    params = op.sample_params(np.random.default_rng(seed), s)
    out = op.apply(s, params)
    dmap = op.dense_map(params, h, w)
    a, b = s.annotations, out.annotations
    assert b.keypoints.shape == a.keypoints.shape or b.num_instances < a.num_instances
    if b.num_instances == a.num_instances:
        vis = b.visibility > 0
        np.testing.assert_allclose(dmap.backward_points(b.keypoints[vis]), a.keypoints[vis], atol=0.05)
        inside = (b.keypoints[..., 0] >= 0) & (b.keypoints[..., 0] < w) & (b.keypoints[..., 1] >= 0) \
            & (b.keypoints[..., 1] < h)
        assert not np.any(vis & ~inside) and np.all(b.visibility[vis] == a.visibility[vis])


@pytest.mark.parametrize("name", sorted(NONRIGID))
@PROPS
@given(seed=seeds)
def test_dense_annotations_move_together(name: str, seed: int) -> None:
    s = random_sample(seed, 40, 56, n=3)
    out = NONRIGID[name]()(s, np.random.default_rng(seed))
    a = out.annotations
    np.testing.assert_array_equal(a.boxes, boxes_from_masks(a.masks))
    for j, c in enumerate(a.categories):
        assert not np.any((a.label_map == int(c[1:]) + 1) & ~a.masks[j])
    assert set(np.unique(a.depth)) <= set(np.unique(s.annotations.depth)) | {0.0}
    length = np.linalg.norm(a.normals, axis=2)
    assert np.all((np.abs(length - 1) < 1e-5) | (length == 0))
    assert np.array_equal(length > 0, a.label_map > 0)


def test_piecewise_affine_keeps_the_frame_and_moves_the_inside() -> None:
    s = random_sample(1, 64, 64)
    t = PiecewiseAffine(scale=0.05)
    p = t.sample_params(np.random.default_rng(0), s)
    out = t.apply(s, p)
    assert out.image[0, 0].tolist() == s.image[0, 0].tolist()  # corners stay
    assert not np.array_equal(out.image, s.image)
    off = np.asarray(p["offsets"]).reshape(p["rows"], p["cols"], 2)
    assert np.all(off[[0, -1], :, 1] == 0) and np.all(off[:, [0, -1], 0] == 0)


def test_runs_from_a_recipe_config_and_in_a_compose() -> None:
    op = build_op({"op": "PiecewiseAffine", "scale": [0.01, 0.03], "rows": [3, 6], "cols": 5, "p": 0.5})
    assert isinstance(op, PiecewiseAffine) and op.rows == (3, 6) and op.cols == (5, 5)
    with pytest.raises(ValueError, match="rows"):
        build_op({"op": "PiecewiseAffine", "rows": 1})
    s = random_sample(2, 32, 32)
    t = Compose([build_op({"op": "Rotate", "angle": 5}), op, build_op({"op": "HorizontalFlip"})])
    p = t.sample_params(np.random.default_rng(3), s)
    assert t.apply(s, p).image.tobytes() == t.apply(s, p).image.tobytes()
