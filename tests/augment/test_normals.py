"""Normal maps under augmentation: they move with the pixels (like depth) and the vectors turn with the picture.
Flips and quarter turns against hand-written transforms, exactly; rotations, zooms, fused pipelines and
perspective warps against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fakevision.augment import (
    Affine,
    Compose,
    GaussianNoise,
    HorizontalFlip,
    Rotate,
    ScaleToObjectSize,
    Translate,
    VerticalFlip,
    Zoom,
)
from fakevision.augment.functional.geometry import rotation_part, warp_normals, warp_sample
from fakevision.core import Annotations, Sample
from tests.augment.helpers import random_normals, random_sample


def normal_sample(seed: int, h: int = 21, w: int = 21) -> Sample:
    rng = np.random.default_rng(seed)
    n = random_normals(rng, h, w)
    n[: h // 4, : w // 3] = 0.0  # a patch with no surface
    return Sample(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), Annotations(normals=n))


def test_horizontal_flip_negates_nx_exactly() -> None:
    s = normal_sample(0, 17, 23)
    out = HorizontalFlip(p=1.0)(s, np.random.default_rng(0)).annotations.normals
    want = s.annotations.normals[:, ::-1] * np.array([-1, 1, 1], np.float32)
    np.testing.assert_array_equal(out, want)


def test_vertical_flip_negates_ny_exactly() -> None:
    s = normal_sample(1, 17, 23)
    out = VerticalFlip(p=1.0)(s, np.random.default_rng(0)).annotations.normals
    want = s.annotations.normals[::-1] * np.array([1, -1, 1], np.float32)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_quarter_turns_match_rot90_exactly(k: int) -> None:
    """Rotate(90 k) on a square image is np.rot90(k) (counter-clockwise on screen) for the pixels, and the
    vectors turn the same way: a normal pointing right, (1, 0), points up, (0, -1), after one quarter turn (y is
    down)."""
    s = normal_sample(2)
    out = Rotate(angle=90 * k, p=1.0).apply(s, {"angle": 90.0 * k})
    n = np.rot90(s.annotations.normals, k)
    nx, ny = n[..., 0], n[..., 1]
    turned = {1: (ny, -nx), 2: (-nx, -ny), 3: (-ny, nx), -1: (-ny, nx)}[k]
    want = np.stack([*turned, n[..., 2]], -1)
    np.testing.assert_array_equal(out.image, np.rot90(s.image, k))
    np.testing.assert_array_equal(out.annotations.normals, want)


@pytest.mark.parametrize("angle", [-150.0, -33.0, 12.5, 71.0])
def test_rotation_turns_every_vector_by_the_image_rotation(angle: float) -> None:
    """A constant normal map turned by ``angle`` is the same vector turned by ``angle`` on screen where the warp
    saw the image, and zero where it looked outside."""
    n0 = np.array([0.48, 0.6, -0.64])
    h, w = 30, 40
    s = Sample(np.zeros((h, w, 3), np.uint8), Annotations(normals=np.broadcast_to(n0, (h, w, 3))))
    out = Rotate(angle=angle, p=1.0).apply(s, {"angle": angle}).annotations.normals
    a = math.radians(angle)  # counter-clockwise on screen with y down: (1, 0) -> (cos a, -sin a)
    want = np.array([n0[0] * math.cos(a) + n0[1] * math.sin(a), -n0[0] * math.sin(a) + n0[1] * math.cos(a), n0[2]])
    surface = np.any(out != 0, axis=2)
    assert surface.mean() > 0.5
    np.testing.assert_allclose(out[surface], np.broadcast_to(want, (surface.sum(), 3)), atol=1e-6)


@pytest.mark.parametrize("op, params", [
    (Zoom(scale=1.7), {"scale": 1.7}),
    (Zoom(scale=0.6), {"scale": 0.6}),
    (Translate(), {"dx": 3.0, "dy": -5.0}),
    (ScaleToObjectSize(keep_size=False), {"scale": 0.5, "target": 10.0, "diameter": 20.0}),
])
def test_zoom_and_translate_leave_vectors_unchanged(op: object, params: dict) -> None:
    s = normal_sample(3, 24, 30)
    out = op.apply(s, {"applied": True, **params}).annotations.normals
    src = {tuple(v) for v in s.annotations.normals.reshape(-1, 3)}
    assert {tuple(v) for v in out.reshape(-1, 3)} <= src  # values copied (nearest), never turned or blended


def test_shear_uses_the_rotation_part_and_renormalises() -> None:
    """A shear has no camera motion behind it: the documented approximation turns vectors by the polar factor of
    the linear map (here a pure rotation, since Affine's angle is the only rotation) and keeps them unit."""
    s = normal_sample(4, 30, 30)
    params = {"scale": 1.2, "angle": 20.0, "shear": 25.0, "dx": 0.0, "dy": 0.0}
    op = Affine()
    out = op.apply(s, {"applied": True, **params}).annotations.normals
    length = np.linalg.norm(out, axis=2)
    assert np.all((np.abs(length - 1) < 1e-6) | (length == 0))
    m = op.matrix(params, 30, 30)
    q = rotation_part(m[:2, :2])
    u, _, vt = np.linalg.svd(m[:2, :2])
    np.testing.assert_allclose(q, u @ vt, atol=1e-12)  # the polar factor, by another road
    src = s.annotations.normals.reshape(-1, 3).astype(np.float64)
    turned = np.concatenate([src[:, :2] @ q.T, src[:, 2:]], 1)
    # every output vector is one of the turned input vectors
    surface = out.reshape(-1, 3)[length.ravel() > 0]
    d = np.abs(surface[:, None, :] - turned[None, :, :]).max(axis=2).min(axis=1)
    assert d.max() < 1e-6


def test_rotation_part_is_the_polar_factor() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 2, 2))
    q = rotation_part(a)
    u, _, vt = np.linalg.svd(a)
    np.testing.assert_allclose(q, u @ vt, atol=1e-9)
    np.testing.assert_allclose(q @ q.transpose(0, 2, 1), np.broadcast_to(np.eye(2), q.shape), atol=1e-12)
    assert np.all(np.sign(np.linalg.det(q)) == np.sign(np.linalg.det(a)))


def test_fused_pipeline_equals_the_ops_one_by_one() -> None:
    """Compose fuses flip + quarter turn into one warp; the normals it gives equal applying the ops in turn (both
    exact here), and a photometric op in the pipeline does not touch them."""
    s = normal_sample(5)
    ops = [HorizontalFlip(p=1.0), Rotate(angle=90, p=1.0), GaussianNoise(variance=50), VerticalFlip(p=1.0)]
    t = Compose(ops)
    params = t.sample_params(np.random.default_rng(0), s)
    fused = t.apply(s, params)
    one_by_one = s
    for op, p in zip(ops, params["ops"], strict=True):
        one_by_one = op.apply(one_by_one, p)
    np.testing.assert_array_equal(fused.annotations.normals, one_by_one.annotations.normals)
    # flip x, turn a quarter, flip y: two mirrors make a rotation, here (u, v) -> (v, -u), a quarter turn again
    n = np.rot90(s.annotations.normals)
    np.testing.assert_array_equal(fused.annotations.normals, np.stack([n[..., 1], -n[..., 0], n[..., 2]], -1))


def test_photometric_ops_keep_the_same_normals_object() -> None:
    s = random_sample(6)
    out = GaussianNoise(variance=80)(s, np.random.default_rng(0))
    assert out.annotations.normals is s.annotations.normals


def test_perspective_warp_turns_each_vector_by_its_local_jacobian() -> None:
    """A perspective matrix has a different linear map at every pixel: each output normal is its source pixel's
    normal turned by the polar factor of the Jacobian there, here measured by finite differences of the warp
    itself (independent of the closed form the code uses); lengths stay 1 (or 0)."""
    from fakevision.augment.functional.geometry import transform_points

    s = normal_sample(7, 40, 40)
    m = np.array([[0.9, 0.15, 2.0], [-0.1, 1.05, 1.0], [0.006, -0.004, 1.0]])
    out = warp_sample(s, m).annotations.normals
    length = np.linalg.norm(out, axis=2)
    assert np.all((np.abs(length - 1) < 1e-6) | (length == 0))
    inv = np.linalg.inv(m)
    checked = 0
    for r, c in [(20, 20), (5, 30), (33, 8), (38, 38), (12, 25)]:
        src = transform_points(inv, np.array([c + 0.5, r + 0.5]))
        sc, sr = int(np.floor(src[0])), int(np.floor(src[1]))
        if not (0 <= sr < 40 and 0 <= sc < 40) or not s.annotations.normals[sr, sc].any():
            continue
        eps = 1e-5
        jac = np.stack([(transform_points(m, src + d) - transform_points(m, src - d)) / (2 * eps)
                        for d in (np.array([eps, 0.0]), np.array([0.0, eps]))], axis=1)
        q = rotation_part(jac)
        n = s.annotations.normals[sr, sc].astype(np.float64)
        want = np.concatenate([q @ n[:2], n[2:]])
        np.testing.assert_allclose(out[r, c], want, atol=1e-5)
        checked += 1
    assert checked >= 3


def test_scaled_affine_through_the_perspective_path_matches_the_affine_path() -> None:
    """2 x an affine matrix is the same map but takes the per-pixel (perspective) branch: same normals."""
    s = normal_sample(8, 30, 30)
    m = Rotate().matrix({"angle": 37.0}, 30, 30)
    a = warp_sample(s, m).annotations.normals
    b = warp_sample(s, 2.0 * m).annotations.normals
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_warp_normals_of_an_empty_map_is_zero() -> None:
    out = warp_normals(np.zeros((5, 6, 3), np.float32), np.diag([2.0, 2.0, 1.0]), (10, 12))
    assert out.shape == (10, 12, 3) and not out.any()


def test_perspective_row_blocks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large maps are turned in row blocks (bounded memory); block edges must not show."""
    import fakevision.augment.functional.geometry as geometry

    n = normal_sample(9, 50, 30).annotations.normals
    m = np.array([[0.9, 0.1, 2.0], [-0.05, 1.02, 1.0], [0.004, -0.003, 1.0]])
    whole = warp_normals(n, m, (50, 30))
    monkeypatch.setattr(geometry, "_ROWS_PER_CHUNK", 7)
    np.testing.assert_array_equal(warp_normals(n, m, (50, 30)), whole)
