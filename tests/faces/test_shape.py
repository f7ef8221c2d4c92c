"""The 68-point shape model: Procrustes, mirror symmetry, fitting, pose-aware sampling, the shipped file."""

from __future__ import annotations

import numpy as np
import pytest

from fakevision.core.errors import InputError
from fakevision.faces.shape import SHAPE_FILE, ShapeModel, mirror_shapes, pose_proxies, procrustes_align


def _rot(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def test_procrustes_removes_exactly_a_similarity() -> None:
    """Copies of one shape moved, scaled and turned align to one shape, and the factors returned are the scales
    and angles applied (the mean's roll is its eye line made level)."""
    m = ShapeModel.load()
    base = m.place(m.mean, np.array([0.5, 0.5, np.log(0.3), 0.0]))
    moved = np.stack([(base - 0.5) @ _rot(t).T * s + [cx, 0.4] for t, s, cx in
                      ((0.2, 1.0, 0.5), (-0.4, 2.0, 3.0), (0.0, 0.5, -1.0))])
    aligned, mean, a = procrustes_align(moved)
    assert np.abs(aligned - aligned[0]).max() < 1e-9
    np.testing.assert_allclose(np.abs(a) / abs(a[0]), [1.0, 2.0, 0.5], rtol=1e-9)
    np.testing.assert_allclose(np.angle(a) - np.angle(a[0]), [0.0, -0.6, -0.2], atol=1e-9)
    eyes = mean[42:48].mean(0) - mean[36:42].mean(0)
    assert abs(eyes[1]) < 1e-12 and eyes[0] > 0


def test_mirror_aware_model_is_left_right_symmetric() -> None:
    m = ShapeModel.load()
    assert m.info["mirrored"]
    np.testing.assert_allclose(mirror_shapes(m.mean), m.mean, atol=1e-5)
    # a shape's mirror image is as likely: its coefficients have the same Mahalanobis length
    rng = np.random.default_rng(1)
    s = m.sample(20, rng)
    flipped = s[:, mirror_perm()].copy()
    flipped[..., 0] = 1.0 - flipped[..., 0]
    b, _ = m.params(s)
    bf, _ = m.params(flipped)
    np.testing.assert_allclose(((b / m.sd) ** 2).sum(1), ((bf / m.sd) ** 2).sum(1), rtol=1e-3)


def mirror_perm() -> list[int]:
    from fakevision.core.keypoints import get_schema

    return list(get_schema("ibug68").flip_perm)


def test_fit_reproduces_model_shapes_and_places_them_like_the_points() -> None:
    m = ShapeModel.load()
    rng = np.random.default_rng(2)
    s = m.sample(30, rng, size=64)
    np.testing.assert_allclose(m.fit(s / 64) * 64, s, atol=1e-6)
    b, pl = m.params(s / 64)
    np.testing.assert_allclose(m.place(m.instance(b), pl) * 64, s, atol=1e-6)


def test_sampling_is_pose_aware_reproducible_and_varied() -> None:
    m = ShapeModel.load()
    a = m.sample(400, np.random.default_rng(3))
    np.testing.assert_array_equal(a, m.sample(400, np.random.default_rng(3)))
    pose = m.pose(a)
    lo, hi = m.pose_range
    assert ((pose >= lo - 1e-6) & (pose <= hi + 1e-6)).all()
    # faces turn both ways about equally (mirror-aware), and the samples are not all one shape
    assert 0.3 < (pose[:, 0] > 0).mean() < 0.7
    assert a.std(0).mean() > 0.01
    g = m.sample(400, np.random.default_rng(3), method="gaussian")
    assert ((m.pose(g) >= lo - 1e-6) & (m.pose(g) <= hi + 1e-6)).all()
    with pytest.raises(InputError, match="unknown shape sampling"):
        m.sample(1, np.random.default_rng(0), method="uniform")


def test_pose_proxies_follow_yaw_and_roll() -> None:
    m = ShapeModel.load()
    turned = m.mean.copy()
    turned[27:36, 0] += 0.1  # nose moved to one side of the jaw
    assert pose_proxies(turned)[0] > pose_proxies(m.mean)[0] + 0.1
    assert pose_proxies(m.mean, np.radians(10))[2] == pytest.approx(10)


def test_build_keeps_the_asked_variance_and_round_trips(tmp_path) -> None:
    m = ShapeModel.load()
    shapes = m.sample(200, np.random.default_rng(4))
    small = ShapeModel.build(shapes, variance=0.9)
    assert small.info["variance_kept"] >= 0.9 and small.num_modes <= m.num_modes
    small.save(tmp_path / "s.safetensors")
    again = ShapeModel.load(tmp_path / "s.safetensors")
    assert again.num_modes == small.num_modes and again.info == small.info
    np.testing.assert_allclose(again.mean, small.mean, atol=1e-6)
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    with pytest.raises(InputError, match="bad.safetensors"):
        ShapeModel.load(tmp_path / "bad.safetensors")
    with pytest.raises(InputError, match="at least 3 shapes"):
        ShapeModel.build(shapes[:2])


def test_shipped_model_is_small_and_keeps_98_percent(shared_data) -> None:
    """The shipped file: tiny, >= 98 % of the variance, and fits held-out hand-annotated shapes closely."""
    from fakevision.gan.data import load_faces_68pt
    from fakevision.gan.mapping import nme

    assert SHAPE_FILE.stat().st_size < 2 * 2**20
    m = ShapeModel.load()
    assert m.info["variance_kept"] >= 0.98
    _, lm, split = load_faces_68pt(shared_data / "faces_68pt", 160)
    held = lm[split == 1] / 160
    assert nme(m.fit(held), held) < 0.03
