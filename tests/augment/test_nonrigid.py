"""Non-rigid ops (dense backward maps): every annotation kind moves with the pixels, keypoints through the exact
inverse of the op's own map."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakevision.augment import Compose, PiecewiseAffine
from fakevision.augment.config import build_op
from fakevision.core import Annotations, Sample
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


@pytest.mark.parametrize("name", sorted(NONRIGID))
def test_pixels_move_with_the_keypoints(name: str) -> None:
    """Ramp images (channel 0 = source x, channel 1 = source y) warped and read back bilinearly at the moved
    keypoints give the original keypoints: pixels and points agree on where things went (OpenCV rounds sample
    positions to 1/32 px, twice here, hence the bounds; a half-pixel slip would give 0.5)."""
    import cv2

    h, w = 72, 88
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    ramps = np.stack([xx, yy, np.zeros_like(xx)], -1).astype(np.float32)
    errs = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        p = np.stack([rng.uniform(8, w - 8, 120), rng.uniform(8, h - 8, 120)], -1)
        s = Sample(ramps, Annotations(categories=["r"], boxes=[[0, 0, w, h]], keypoints=p[None]))
        out = NONRIGID[name]()(s, rng)
        q = out.annotations.keypoints[0].astype(np.float32) - 0.5
        read = cv2.remap(out.image, q[:, None, 0].copy(), q[:, None, 1].copy(), cv2.INTER_LINEAR)[:, 0, :2]
        ok = out.annotations.visibility[0] > 0
        errs.append(np.linalg.norm(read[ok] - p[ok], axis=1))
    e = np.concatenate(errs)
    assert np.median(e) < 0.03 and np.percentile(e, 95) < 0.06, (np.median(e), np.percentile(e, 95))


def test_elastic_field_has_the_statistics_of_the_full_resolution_recipe() -> None:
    """The field is drawn at 1/k resolution for speed; its strength matches alpha x blur(uniform, sigma) drawn at
    full resolution (the Albumentations recipe) within a few percent, and it is as smooth."""
    import cv2

    from fakevision.augment.nonrigid import elastic_field

    h = w = 192
    alpha, sigma = 100.0, 8.0
    ours = np.concatenate([np.stack(elastic_field(s, h, w, alpha, sigma)) for s in range(12)])
    ref = []
    for s in range(12):
        noise = np.random.default_rng(100 + s).uniform(-1, 1, (2, h, w)).astype(np.float32)
        ref += [cv2.GaussianBlur(f, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101) * alpha for f in noise]
    ref = np.stack(ref)
    inner = (slice(None), slice(24, -24), slice(24, -24))  # away from the blur's border handling
    assert abs(ours[inner].std() / ref[inner].std() - 1) < 0.1
    grad = lambda f: np.abs(np.diff(f[inner], axis=2)).mean()  # noqa: E731
    assert abs(grad(ours) / grad(ref) - 1) < 0.15


def test_grid_distortion_is_exact_both_ways() -> None:
    from fakevision.augment import GridDistortion

    s = random_sample(4, 50, 70)
    t = GridDistortion(num_steps=6, distort_limit=0.5)
    p = t.sample_params(np.random.default_rng(2), s)
    m = t.dense_map(p, 50, 70)
    pts = np.random.default_rng(0).uniform(-5, 75, (300, 2))
    fwd, found = m.forward_points(pts)
    assert found.all()
    np.testing.assert_allclose(m.backward_points(fwd), pts, atol=1e-9)
    yy, xx = np.mgrid[0:50, 0:70] + 0.5
    centres = np.stack([xx.ravel(), yy.ravel()], -1)
    np.testing.assert_allclose(m.xy.reshape(-1, 2), m.backward_points(centres) - 0.5, atol=1e-4)
    # the frame maps onto the frame: corners stay
    np.testing.assert_allclose(m.forward_points(np.array([[0.0, 0.0], [70.0, 50.0]]))[0], [[0, 0], [70, 50]])
