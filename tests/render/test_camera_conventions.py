"""Analytic checks of the camera conventions: pixel centres, metric depth, projection = K[R|t]X."""

from __future__ import annotations

import numpy as np
import pytest

from fakevision.render import Camera, Ground, Light, ObjectSpec, Scene, get_backend, intrinsics, look_at
from fakevision.render.scene import Texture

NO_SHADOW = Light(shadows=False)


def _edge_scene(axis: int, edge: float, cam: Camera, z: float) -> Scene:
    """A thin slab facing the camera covering image coordinates >= ``edge`` along ``axis`` (0 = x, 1 = y)."""
    K = cam.K
    e = (edge - K[axis, 2]) * z / K[axis, axis]  # camera-frame coordinate of the edge at depth z
    big = 50.0
    pos = [0.0, 0.0, z + 0.0005]
    pos[axis] = e + big / 2
    ext = [big, big, 0.001]
    return Scene(objects=(ObjectSpec("box", tuple(ext), tuple(pos), texture=Texture()),),  # type: ignore[arg-type]
                 ground=Ground(visible=False), light=NO_SHADOW)


@pytest.mark.parametrize("size", [(63, 47), (64, 48)])
def test_pixel_centres_decide_coverage(size: tuple[int, int]) -> None:
    """A pixel is covered iff its centre (i + 0.5) is: edges placed at sub-pixel positions in both axes."""
    W, H = size
    # World = camera frame (identity pose); off-centre principal point to catch sign errors.
    cam = Camera(intrinsics(50.0, 55.0, W / 2 + 3.3, H / 2 - 2.1), np.eye(4), W, H, near=0.1, far=10.0)
    backend = get_backend()
    for axis in (0, 1):
        for edge in (30.2, 30.45, 30.55, 30.8, 31.0):
            buf = backend.render(_edge_scene(axis, edge, cam, 2.0), cam)
            line = buf.instance[H // 2] if axis == 0 else buf.instance[:, W // 2]
            first = int(np.argmax(line == 0))
            expected = int(np.ceil(edge - 0.5))  # first pixel whose centre lies at or past the edge
            assert first == expected, (axis, edge, first, expected)


def test_plane_at_known_distance_has_that_depth() -> None:
    """Camera looking straight down at the ground from height h: z-depth h at every pixel (rel. error <= 1e-3);
    a tilted camera: depth equals the analytic ray-plane intersection at each pixel centre."""
    backend = get_backend()
    scene = Scene(ground=Ground(Texture("checker", cells=8), size=40.0), light=NO_SHADOW)
    h = 1.7
    down = Camera(intrinsics(60, 60, 40, 30), look_at(np.array([0.1, 0.2, h]), np.array([0.1, 0.2, 0.0]),
                                                        up=np.array([0.0, 1.0, 0.0])), 80, 60, near=0.05, far=30)
    d = backend.render(scene, down).depth
    assert np.all(d > 0)
    assert np.max(np.abs(d - h) / h) <= 1e-3

    tilted = Camera(intrinsics(70, 70, 40, 30), look_at(np.array([0.5, -1.0, 1.2]), np.array([0.0, 0.5, 0.0])),
                    80, 60, near=0.05, far=30)
    d = backend.render(scene, tilted).depth
    # Ray through each pixel centre: X = C + s * R^T ray; ground z = 0 -> s; the z-depth is s (ray has z = 1).
    R = tilted.world_to_camera[:3, :3]
    rays_w = tilted.rays() @ R  # R^T @ ray for each pixel
    C = tilted.position
    s = -C[2] / rays_w[..., 2]
    hit = (s > 0) & (d > 0)
    assert hit.mean() > 0.5
    assert np.max(np.abs(d[hit] - s[hit]) / s[hit]) <= 1e-3


def test_projection_equals_K_R_t() -> None:
    rng = np.random.default_rng(3)
    K = intrinsics(210.0, 190.0, 131.0, 97.0)
    T = look_at(np.array([1.0, -2.0, 1.5]), np.array([0.1, 0.0, 0.2]), roll=0.3)
    cam = Camera(K, T, 256, 200)
    X = rng.uniform(-0.5, 0.5, (20, 3))
    P = K @ T[:3, :]
    h = np.column_stack([X, np.ones(len(X))]) @ P.T
    uv, z = cam.project(X)
    np.testing.assert_allclose(uv, h[:, :2] / h[:, 2:], rtol=0, atol=1e-9)
    np.testing.assert_allclose(z, h[:, 2], atol=1e-12)
    # look_at gives a proper rigid transform with the target on the optical axis.
    assert np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3)) and np.isclose(np.linalg.det(T[:3, :3]), 1.0)


def test_keypoint_projection_lands_on_the_rendered_point() -> None:
    """A tiny sphere rendered at a 3D point: its mask centroid is the projection of that point (< 0.3 px)."""
    cam = Camera(intrinsics(300, 300, 64.3, 47.6), look_at(np.array([0.3, -1.2, 0.9]), np.zeros(3)), 128, 96)
    X = np.array([0.05, 0.02, 0.1])
    scene = Scene(objects=(ObjectSpec("sphere", (0.04,) * 3, tuple(X)),), ground=Ground(visible=False),
                  light=NO_SHADOW)
    buf = get_backend().render(scene, cam)
    rows, cols = np.nonzero(buf.instance == 0)
    centroid = np.array([cols.mean() + 0.5, rows.mean() + 0.5])
    uv, _ = cam.project(X[None])
    # A sphere's silhouette centre is offset from the projected centre by perspective only slightly here.
    assert np.linalg.norm(centroid - uv[0]) < 0.3


def test_depth_buffer_conversion_round_trip() -> None:
    cam = Camera(intrinsics(50, 50, 32, 24), np.eye(4), 64, 48, near=0.1, far=10.0)
    z = np.array([[0.1, 0.5, 2.0, 9.9]])
    n, f = cam.near, cam.far
    d = (1 / n - 1 / z) / (1 / n - 1 / f)  # OpenGL window depth of z-depth z
    np.testing.assert_allclose(cam.linear_depth(d), z, rtol=1e-5)
    assert cam.linear_depth(np.ones((1, 1)))[0, 0] == 0.0  # far plane = nothing drawn
