"""Dense backward-map warps (``functional.dense``): the exact piecewise-affine warp against its definition and
against the matrix warp where the two must agree, and the per-point Newton inverse of arbitrary maps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakevision.augment.functional.dense import (
    DenseMap,
    PiecewiseAffineWarp,
    frame_points,
    identity_grid,
    invert_map,
    piecewise_affine,
    remap_sample,
)
from fakevision.augment.functional.geometry import transform_points, warp_sample
from fakevision.core import Annotations, Sample
from fakevision.core.sample import boxes_from_masks
from tests.augment.helpers import random_sample

PROPS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
seeds = st.integers(0, 2**31 - 1)


def shapes(seed: int, h: int, w: int, k: int = 12, jitter: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Random source points inside the frame and targets near them."""
    rng = np.random.default_rng(seed)
    src = np.stack([rng.uniform(0.15 * w, 0.85 * w, k), rng.uniform(0.15 * h, 0.85 * h, k)], -1)
    return src, src + rng.normal(0, jitter, src.shape)


def smooth_map(seed: int, h: int, w: int, amp: float = 2.0) -> DenseMap:
    """A smooth, invertible displacement map (a few sine waves)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dx = np.zeros((h, w))
    dy = np.zeros((h, w))
    for _ in range(3):
        fx, fy, ph = rng.uniform(0.02, 0.12), rng.uniform(0.02, 0.12), rng.uniform(0, 6.3)
        dx += amp / 3 * np.sin(fx * xx + fy * yy + ph)
        dy += amp / 3 * np.cos(fy * xx - fx * yy + ph)
    return DenseMap.from_displacement(dx, dy)


@PROPS
@given(seed=seeds, h=st.integers(16, 64), w=st.integers(16, 64))
def test_control_points_land_exactly_and_others_follow_the_exact_inverse(seed: int, h: int, w: int) -> None:
    src, dst = shapes(seed, h, w)
    s = random_sample(seed, h, w, n=1, k=68)
    kp = s.annotations.keypoints.copy()
    kp[0, : len(src)] = src  # the first 12 keypoints are the control points, the others are anywhere
    s = s.replace(annotations=s.annotations.replace(keypoints=kp))
    out = piecewise_affine(s, src, dst)
    got = out.annotations.keypoints[0]
    assert np.array_equal(got[: len(src)], dst), "control points are copied to their targets, bit for bit"
    warp = PiecewiseAffineWarp(dst, (h, w))
    _, found = warp.map(src).forward_points(kp[0])
    assert found.all() or warp.folded(src).any(), "without a fold every point has an image"
    back = warp.map(src).backward_points(got[found])
    np.testing.assert_allclose(back, kp[0, found], atol=1e-9)  # B(F(p)) = p: the exact inverse
    inside = found & (got[:, 0] >= 0) & (got[:, 0] < w) & (got[:, 1] >= 0) & (got[:, 1] < h)
    np.testing.assert_array_equal(out.annotations.visibility[0], np.where(inside, s.annotations.visibility[0], 0))


@PROPS
@given(seed=seeds)
def test_the_map_is_the_piecewise_affine_map_at_pixel_centres(seed: int) -> None:
    h, w = 40, 52
    src, dst = shapes(seed, h, w, jitter=4.0)
    warp = PiecewiseAffineWarp(dst, (h, w))
    m = warp.map(src)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    centres = np.stack([xx.ravel(), yy.ravel()], -1)
    exact = m.backward_points(centres).reshape(h, w, 2) - 0.5
    np.testing.assert_allclose(m.xy, exact, atol=1e-4)  # float32 map
    # and at the targets, the map shows the sources: a pixel centre placed on a target shows its source
    dst2 = np.clip(np.floor(dst), 0, [w - 1, h - 1]) + 0.5
    keep = np.sort(np.unique(dst2, axis=0, return_index=True)[1])
    dst2, src = dst2[keep], src[keep]
    m2 = PiecewiseAffineWarp(dst2, (h, w)).map(src)
    ij = np.floor(dst2).astype(int)
    np.testing.assert_allclose(m2.xy[ij[:, 1], ij[:, 0]] + 0.5, src, atol=1e-4)
    assert set(np.unique(warp.triangle_id)) <= set(range(len(warp.triangles)))


def test_the_same_points_are_the_identity_bit_for_bit() -> None:
    s = random_sample(3, 37, 45)
    src, _ = shapes(3, 37, 45)
    out = piecewise_affine(s, src, src)
    assert out.image.tobytes() == s.image.tobytes()
    a, b = s.annotations, out.annotations
    np.testing.assert_array_equal(b.masks, a.masks)
    np.testing.assert_array_equal(b.label_map, a.label_map)
    np.testing.assert_array_equal(b.depth, a.depth)
    np.testing.assert_allclose(b.normals, a.normals, atol=1e-6)
    np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-9)
    np.testing.assert_array_equal(b.boxes, a.boxes)


@pytest.mark.parametrize("seed", range(4))
def test_an_affine_correspondence_gives_the_matrix_warp(seed: int) -> None:
    """Control points related by one affine map (frame points off, the points surround the frame): the
    piecewise-affine warp *is* that matrix warp, for every annotation kind."""
    h, w = 36, 48
    rng = np.random.default_rng(seed)
    a = np.radians(rng.uniform(-20, 20))
    lin = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) * rng.uniform(0.85, 1.15)
    m = np.eye(3)
    m[:2, :2] = lin
    m[:2, 2] = np.array([w / 2, h / 2]) - lin @ [w / 2, h / 2] + rng.uniform(-2, 2, 2)
    dst = np.concatenate([frame_points(h, w, 1) + [[-5, -5], [5, -5], [5, 5], [-5, 5]], rng.uniform(5, 30, (6, 2))])
    src = transform_points(np.linalg.inv(m), dst)
    s = random_sample(seed, h, w, n=2)
    got = piecewise_affine(s, src, dst, frame=0)
    want = warp_sample(s, m)
    ga, wa = got.annotations, want.annotations
    np.testing.assert_allclose(ga.keypoints, wa.keypoints, atol=1e-9)
    np.testing.assert_array_equal(ga.visibility, wa.visibility)
    diff = np.abs(got.image.astype(int) - want.image.astype(int))
    # the same bilinear samples: OpenCV rounds sample points to 1/32 px in both, from a float32 map here and a
    # matrix there, so a point on a rounding boundary may move by 1/32 px (up to ~8 levels on this noise image)
    assert diff.max() <= 10 and (diff > 1).mean() < 0.02
    # nearest neighbour: the same source pixel except where a sample point sits on a rounding boundary
    assert (ga.masks != wa.masks).mean() < 0.002 and (ga.label_map != wa.label_map).mean() < 0.002
    both = (np.linalg.norm(ga.normals, axis=2) > 0) & (np.linalg.norm(wa.normals, axis=2) > 0)
    same = np.all(np.abs(ga.normals - wa.normals) < 1e-5, axis=2)
    assert same[both].mean() > 0.99  # equal where the same source pixel was picked
    np.testing.assert_array_equal(ga.boxes, boxes_from_masks(ga.masks))


def test_boxes_without_masks_are_the_exact_box_of_the_moved_outline() -> None:
    h, w = 48, 64
    src, dst = shapes(7, h, w, k=15, jitter=0.7)
    s = random_sample(7, h, w, n=3)
    s = s.replace(annotations=s.annotations.replace(masks=None))
    out = piecewise_affine(s, src, dst).annotations
    warp = PiecewiseAffineWarp(dst, (h, w))
    assert not warp.folded(src).any()  # one-to-one: the image of the box is bounded by the image of its outline
    fwd = warp.map(src)
    for box, got in zip(s.annotations.boxes, out.boxes):
        x0, y0, x1, y1 = box
        t = np.linspace(0, 1, 4001)
        outline = np.concatenate([np.stack([x0 + (x1 - x0) * t, np.full_like(t, y0)], -1),
                                  np.stack([x0 + (x1 - x0) * t, np.full_like(t, y1)], -1),
                                  np.stack([np.full_like(t, x0), y0 + (y1 - y0) * t], -1),
                                  np.stack([np.full_like(t, x1), y0 + (y1 - y0) * t], -1)])
        moved, _ = fwd.forward_points(outline)
        want = np.concatenate([moved.min(0), moved.max(0)]).clip(0, [w, h, w, h])
        assert np.all(got[:2] <= want[:2] + 1e-9) and np.all(got[2:] >= want[2:] - 1e-9), "never smaller"
        np.testing.assert_allclose(got, want, atol=0.01)  # and tight: dense sampling only approaches it


def test_pixels_move_with_the_keypoints() -> None:
    """Ramp images (channel 0 = x, channel 1 = y of the source pixel centre) warped and read back, bilinearly, at
    the moved keypoints give the original keypoints: the pixel warp and the point warp agree on the half-pixel
    convention. OpenCV's bilinear remap rounds sample positions to 1/32 px (in the warp and again in the read), and a
    cell crossed by a triangle edge bends the ramp, hence a median and a percentile bound, not a maximum; a
    half-pixel error would put every point 0.5 px off."""
    import cv2

    h, w = 64, 80
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    ramps = np.stack([xx, yy, np.zeros_like(xx)], -1).astype(np.float32)
    errs = []
    for trial in range(5):
        src, dst = shapes(trial, h, w, k=10, jitter=1.5)
        rng = np.random.default_rng(trial)
        p = np.stack([rng.uniform(5, w - 5, 100), rng.uniform(5, h - 5, 100)], -1)
        s = Sample(ramps, Annotations(categories=["b"], boxes=[[0, 0, w, h]], keypoints=p[None]))
        out = piecewise_affine(s, src, dst)
        q = out.annotations.keypoints[0].astype(np.float32) - 0.5
        read = cv2.remap(out.image, q[:, None, 0].copy(), q[:, None, 1].copy(), cv2.INTER_LINEAR)[:, 0, :2]
        ok = out.annotations.visibility[0] > 0
        errs.append(np.linalg.norm(read[ok] - p[ok], axis=1))
    e = np.concatenate(errs)
    assert np.median(e) < 0.025 and np.percentile(e, 90) < 0.05, (np.median(e), np.percentile(e, 90))


def test_many_sources_onto_one_target_batch_equals_one_by_one() -> None:
    h, w = 32, 32
    _, dst = shapes(1, h, w)
    warp = PiecewiseAffineWarp(dst, (h, w))
    srcs = np.stack([shapes(s, h, w)[0] for s in range(5)])
    for one, many in zip([warp.map(s) for s in srcs], warp.maps(srcs)):
        np.testing.assert_array_equal(one.xy, many.xy)
    img = np.random.default_rng(0).integers(0, 256, (h, w), np.uint8)
    assert warp.warp(img, srcs[0]).shape == (h, w)


@pytest.mark.parametrize("seed", range(3))
def test_a_warp_without_weights_gives_the_same_maps(seed: int) -> None:
    """``weights=False`` (the triangle raster only, maps from the triangles' affine maps) is the same warp: the
    same map to float32 precision, the same exact companions (keypoints, boxes), the identity's pixels bit for bit."""
    h, w = 45, 61
    src, dst = shapes(seed, h, w, jitter=4.0)
    full, lean = PiecewiseAffineWarp(dst, (h, w)), PiecewiseAffineWarp(dst, (h, w), weights=False)
    a, b = full.map(src), lean.map(src)
    np.testing.assert_allclose(b.xy, a.xy, atol=1e-4)
    srcs = np.stack([src, dst, shapes(seed + 7, h, w)[0]])
    for one, many in zip([lean.map(s) for s in srcs], lean.maps(srcs)):
        np.testing.assert_array_equal(one.xy, many.xy)
    s = random_sample(seed, h, w)
    out_a, out_b = full.warp(s, src), lean.warp(s, src)
    np.testing.assert_array_equal(out_b.annotations.keypoints, out_a.annotations.keypoints)
    np.testing.assert_array_equal(out_b.annotations.boxes, out_a.annotations.boxes)
    np.testing.assert_allclose(lean.map(dst).xy, identity_grid(h, w), atol=1e-6)
    assert lean.warp(s, dst).image.tobytes() == s.image.tobytes()  # the same points: the identity, bit for bit


def test_different_source_and_output_sizes() -> None:
    """A 64² face onto a 32² target shape: frame points pair up proportionally, control points exactly."""
    src, _ = shapes(2, 64, 64)
    dst = src / 2 + np.random.default_rng(0).normal(0, 0.5, src.shape)
    s = random_sample(2, 64, 64, n=1)
    kp = s.annotations.keypoints.copy()
    kp[0, : len(src)] = src
    s = s.replace(annotations=s.annotations.replace(keypoints=kp))
    out = piecewise_affine(s, src, dst, (32, 32))
    assert out.image.shape == (32, 32, 3) and out.annotations.masks.shape == (1, 32, 32)
    assert np.array_equal(out.annotations.keypoints[0, : len(src)], dst)


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="3 source points for 2 target points"):
        PiecewiseAffineWarp(np.zeros((2, 2)) + 5, (16, 16)).map(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="outside every triangle"):
        PiecewiseAffineWarp(np.array([[2.0, 2], [10, 2], [6, 9]]), (16, 16), frame=0)
    with pytest.raises(ValueError, match="cannot triangulate"):
        PiecewiseAffineWarp(np.array([[2.0, 2], [4, 4], [6, 6]]), (16, 16), frame=0)
    with pytest.raises(ValueError, match="NaN"):
        PiecewiseAffineWarp(np.array([[np.nan, 2.0]]), (16, 16))
    with pytest.raises(ValueError, match="the sample is 20x20"):
        remap_sample(random_sample(0, 20, 20), DenseMap.identity(16, 16))


# -- arbitrary maps: the Newton inverse -----------------------------------------------------------------------------
@PROPS
@given(seed=seeds, amp=st.floats(0.5, 6.0))
def test_newton_inverse_of_a_smooth_map(seed: int, amp: float) -> None:
    h, w = 48, 56
    m = smooth_map(seed, h, w, amp)
    rng = np.random.default_rng(seed)
    pts = np.stack([rng.uniform(-3, w + 3, 200), rng.uniform(-3, h + 3, 200)], -1)
    q, found = m.forward_points(pts)
    assert found.all()
    np.testing.assert_allclose(m.backward_points(q), pts, atol=1e-4)


def test_keypoints_leaving_the_frame_become_invisible_and_are_kept() -> None:
    h, w = 20, 30
    shift = DenseMap.from_displacement(np.full((h, w), -6.0), np.zeros((h, w)))  # content moves 6 px right
    s = Sample(np.zeros((h, w, 3), np.uint8),
               Annotations(categories=["a"], boxes=[[20, 5, 28, 10]], keypoints=[[[10.0, 5.0], [27.0, 5.0]]]))
    out = remap_sample(s, shift).annotations
    np.testing.assert_allclose(out.keypoints, [[[16.0, 5.0], [33.0, 5.0]]], atol=1e-6)
    assert out.visibility.tolist() == [[2, 0]]
    np.testing.assert_allclose(out.boxes, [[26.0, 5.0, 30.0, 10.0]], atol=1e-6)  # the moved outline, clipped


def test_a_map_that_is_a_rotation_turns_normals_like_the_matrix_warp() -> None:
    """The same rotation written as a matrix and as a dense map: normals, masks and keypoints agree."""
    from fakevision.augment import Rotate

    s = random_sample(5, 40, 40)
    m = Rotate(angle=33).matrix({"angle": 33.0}, 40, 40)
    centres = identity_grid(40, 40).astype(np.float64) + 0.5
    xy = transform_points(np.linalg.inv(m), centres) - 0.5
    got = remap_sample(s, DenseMap(xy, (40, 40)))
    want = warp_sample(s, m)
    ga, wa = got.annotations, want.annotations
    both = (np.linalg.norm(ga.normals, axis=2) > 0) & (np.linalg.norm(wa.normals, axis=2) > 0)
    np.testing.assert_allclose(ga.normals[both], wa.normals[both], atol=1e-4)
    kept = (ga.visibility > 0) & (wa.visibility > 0)
    np.testing.assert_allclose(ga.keypoints[kept], wa.keypoints[kept], atol=1e-3)


def test_invert_map_finds_points_on_a_folded_map_from_the_coarse_grid() -> None:
    """Far from the identity (a 180° turn): the coarse-grid start is what makes Newton converge."""
    h, w = 40, 40
    xy = identity_grid(h, w)[::-1, ::-1].copy()
    q, ok = invert_map(xy.astype(np.float64), np.array([[3.0, 5.0], [30.25, 11.5]]))
    assert ok.all()
    np.testing.assert_allclose(q, [[36.0, 34.0], [8.75, 27.5]], atol=1e-6)


def test_a_shared_triangulation_gives_the_same_warp_without_delaunay() -> None:
    """Reusing one triangulation for a target that does not fold it gives Delaunay's map where the two
    triangulations are the same (the target is the reference shape moved slightly), control points land exactly;
    a target that turns the triangles over is refused."""
    rng = np.random.default_rng(3)
    ref = rng.uniform(8, 56, (12, 2))
    base = PiecewiseAffineWarp(ref, (64, 64))
    dst = ref + rng.normal(0, 0.05, ref.shape)
    src = dst + rng.normal(0, 2.0, ref.shape)
    fresh = PiecewiseAffineWarp(dst, (64, 64))
    assert sorted(map(tuple, np.sort(fresh.triangles, 1))) == sorted(map(tuple, np.sort(base.triangles, 1)))
    shared = PiecewiseAffineWarp(dst, (64, 64), triangles=base.triangles)
    np.testing.assert_allclose(shared.map(src).xy, fresh.map(src).xy, atol=1e-4)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    s = Sample(img, Annotations(categories=["a"], boxes=[[4, 4, 60, 60]], keypoints=src[None]))
    out = shared.warp(s, src)
    np.testing.assert_array_equal(out.annotations.keypoints[0], dst)
    with pytest.raises(ValueError, match="fold|outside every triangle"):
        swapped = ref.copy()
        swapped[:, 0] = 64 - swapped[:, 0]  # mirrored: every triangle of the reference turns over
        PiecewiseAffineWarp(swapped, (64, 64), triangles=base.triangles)
    with pytest.raises(ValueError, match="T x 3 integer"):
        PiecewiseAffineWarp(ref, (64, 64), triangles=np.zeros((2, 2), int))
