"""The numpy triangle rasteriser behind ``RaycastBackend.render_bodies`` against analytic answers: a triangle covers
exactly the pixel centres inside its image, at the depth of its plane; the nearer of two triangles wins whatever
their order; UVs are interpolated perspective-correctly on a tilted quad; no pixel falls between triangles sharing
an edge; triangles crossing the near plane or seen from behind; normals unit where drawn."""

from __future__ import annotations

import numpy as np
import pytest

from fakevision.render.backends.raster import rasterise, render_bodies
from fakevision.render.camera import Camera, intrinsics, look_at
from fakevision.render.eye import annulus_mesh
from fakevision.render.scene import Light, MeshBody

FLAT = Light(direction=(0.0, 0.0, 1.0), ambient=1.0, diffuse=0.0, specular=0.0, shadows=False)


def _camera(W: int = 61, H: int = 47, f: tuple[float, float] = (53.0, 49.0), c: tuple[float, float] = (31.3, 22.8),
            near: float = 0.05) -> Camera:
    return Camera(intrinsics(f[0], f[1], c[0], c[1]), np.eye(4), W, H, near=near, far=50.0)


def _inside_2d(p: np.ndarray, poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inside, distance to the nearest edge line in pixels) of points ``p`` (N x 2) for the convex polygon
    ``poly`` (K x 2, either winding)."""
    d = []
    for a in range(len(poly)):
        e = poly[(a + 1) % len(poly)] - poly[a]
        d.append((e[0] * (p[:, 1] - poly[a, 1]) - e[1] * (p[:, 0] - poly[a, 0])) / np.hypot(*e))
    d = np.stack(d)
    inside = np.all(d >= 0, axis=0) | np.all(d <= 0, axis=0)
    return inside, np.abs(d).min(axis=0)


def _centres(cam: Camera) -> np.ndarray:
    u, v = np.meshgrid(np.arange(cam.width) + 0.5, np.arange(cam.height) + 0.5)
    return np.column_stack([u.ravel(), v.ravel()])


def _front_facing(X: np.ndarray) -> np.ndarray:
    """The triangle wound so that it faces the camera at the origin (counter-clockwise seen from the camera)."""
    return X if np.dot(X[0], np.cross(X[1], X[2])) < 0 else X[[0, 2, 1]]


@pytest.mark.parametrize("seed", range(12))
def test_single_triangle_covers_the_pixel_centres_inside_its_image(seed: int) -> None:
    """Random triangles in front of the camera, tilted any way: the drawn pixels are exactly those whose centre
    lies inside the projected triangle (centres within 1e-7 px of an edge excepted), the depth is the z of the ray's
    hit on the triangle's plane, and the barycentric coordinates rebuild that hit point."""
    rng = np.random.default_rng(seed)
    cam = _camera()
    X = _front_facing(np.column_stack([rng.uniform(-0.7, 0.7, (3, 2)) * 1.5, rng.uniform(1.0, 2.5, 3)]))
    r = rasterise(X[None], cam)
    uv, _ = cam.project(X)
    p = _centres(cam)
    inside, dist = _inside_2d(p, uv)
    drawn = (r.triangle.reshape(-1) == 0)
    clear = dist > 1e-7
    assert inside.sum() > 20
    np.testing.assert_array_equal(drawn[clear], inside[clear])
    np.testing.assert_array_equal(r.triangle.reshape(-1)[~drawn], -1)
    # depth: the plane n . X = n . X0 met by the ray z (u, v, 1) K^-T
    n = np.cross(X[1] - X[0], X[2] - X[0])
    rays = np.column_stack([p, np.ones(len(p))]) @ np.linalg.inv(cam.K).T
    z = (n @ X[0]) / (rays @ n)
    np.testing.assert_allclose(r.depth.reshape(-1)[drawn], z[drawn], rtol=1e-6)
    assert np.all(r.depth.reshape(-1)[~drawn] == 0)
    hit = (r.bary.T @ X)  # the barycentric combination of the vertices: the ray's hit point
    np.testing.assert_allclose(hit, rays[r.flat] * z[r.flat, None], rtol=1e-9, atol=1e-12)
    assert np.all(r.bary >= -1e-12)


def test_back_faces_are_culled_unless_asked() -> None:
    cam = _camera()
    X = _front_facing(np.array([[-0.5, -0.4, 1.5], [0.6, -0.3, 1.6], [0.0, 0.5, 1.4]]))
    front = (rasterise(X[None], cam).triangle == 0).sum()
    assert front > 100
    assert (rasterise(X[None, [0, 2, 1]], cam).triangle >= 0).sum() == 0  # seen from behind
    assert (rasterise(X[None, [0, 2, 1]], cam, cull=False).triangle == 0).sum() == front


def test_the_nearer_of_two_overlapping_triangles_wins_in_either_order() -> None:
    cam = _camera()
    far = _front_facing(np.array([[-0.8, -0.6, 2.0], [0.8, -0.6, 2.0], [0.0, 0.7, 2.0]]))
    near = _front_facing(np.array([[-0.2, -0.5, 1.2], [0.5, 0.1, 1.0], [-0.3, 0.4, 1.1]]))
    p = _centres(cam)
    in_far, _ = _inside_2d(p, cam.project(far)[0])
    in_near, _ = _inside_2d(p, cam.project(near)[0])
    for order, (i_far, i_near) in (((far, near), (0, 1)), ((near, far), (1, 0))):
        r = rasterise(np.stack(order), cam)
        t = r.triangle.reshape(-1)
        assert np.all(t[in_near] == i_near)  # in front wherever it is
        assert np.all(t[in_far & ~in_near] == i_far)
        assert np.all(t[~in_far & ~in_near] == -1)
        assert (r.depth.reshape(-1)[in_near] < 1.25).all() and (r.depth.reshape(-1)[in_far & ~in_near] > 1.9).all()


def test_crossing_triangles_intersect_into_the_nearer_one() -> None:
    """Two triangles that pierce each other: each pixel shows the one whose plane is nearer along its ray."""
    cam = _camera()
    a = _front_facing(np.array([[-0.9, -0.7, 1.0], [0.9, -0.7, 3.0], [0.0, 0.8, 2.0]]))  # depth grows with x
    b = _front_facing(np.array([[-0.9, -0.7, 3.0], [0.9, -0.7, 1.0], [0.0, 0.8, 2.0]]))  # and falls with x
    r = rasterise(np.stack([a, b]), cam)
    t, d = r.triangle, r.depth
    u = np.arange(cam.width) + 0.5
    row = t[cam.height // 2]
    left, right = u < cam.K[0, 2] - 1, u > cam.K[0, 2] + 1  # the planes cross on the optical axis' column
    assert np.all(row[left & (row >= 0)] == 0) and np.all(row[right & (row >= 0)] == 1)
    assert d[cam.height // 2][row >= 0].max() <= 2.0 + 1e-9


def test_perspective_correct_uvs_on_a_tilted_quad() -> None:
    """A quad tilted 60 degrees away, textured with an image whose texel value is its own column and row: the
    texel each pixel shows is the one under its ray's hit point (up to the texel boundary), as perspective-correct
    interpolation gives and affine interpolation would not (tens of texels off here)."""
    size = 256
    cols, rows = np.meshgrid(np.arange(size), np.arange(size))
    tex = np.stack([cols, rows, np.zeros_like(cols)], -1).astype(np.uint8)  # texel (col, row) holds (col, row)
    quad = MeshBody("quad", [[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], [0, 1, 2, 0, 2, 3],
                    [[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0, 1]] * 4, "uv-grid", lambda: tex, "quad",
                    scale=(0.5, 0.5, 1.0))
    eye = np.array([0.0, -1.2 * np.sin(np.pi / 3), 1.2 * np.cos(np.pi / 3)])  # 60 degrees from the normal
    cam = Camera(intrinsics(160, 160, 64, 64), look_at(eye, np.zeros(3), up=(0, 1, 0)), 128, 128, near=0.05, far=10)
    out = render_bodies([quad], cam, FLAT)
    drawn = out.instance == 0
    assert drawn.sum() > 2000
    # Expected: the world point under each pixel centre, on the plane z = 0; its quad coordinates are the UVs.
    rays = cam.rays() @ cam.world_to_camera[:3, :3]  # world directions, camera-z = 1
    s = -cam.position[2] / rays[..., 2]
    P = cam.position + s[..., None] * rays
    uu, vv = (P[..., 0] / 0.5 + 1) / 2, (P[..., 1] / 0.5 + 1) / 2
    exp_col = np.minimum((uu * size).astype(int), size - 1)
    exp_row = size - 1 - np.minimum((vv * size).astype(int), size - 1)  # TinyRenderer flips the image rows
    got_col, got_row = out.rgb[..., 0].astype(int), out.rgb[..., 1].astype(int)
    err = np.maximum(np.abs(got_col - exp_col), np.abs(got_row - exp_row))[drawn]
    assert err.max() <= 1 and (err == 0).mean() > 0.98
    # The depth is the plane's, the normal the quad's (+z world) in the camera frame.
    np.testing.assert_allclose(out.depth[drawn], (s * 1.0)[drawn], rtol=1e-6)
    np.testing.assert_allclose(out.normals[drawn], np.tile(cam.world_to_camera[:3, 2], (drawn.sum(), 1)), atol=1e-6)
    # Affine (screen-space) interpolation of the UVs would be far off on this quad: the check above has teeth.
    ys, xs = np.nonzero(drawn)
    corners = cam.project(np.array([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]]))[0]
    top, bottom = corners[2:, 1].mean(), corners[:2, 1].mean()
    affine_v = (bottom - (ys + 0.5)) / (bottom - top)  # v along the screen between the quad's two edges
    assert np.abs(affine_v * size - vv[drawn] * size).max() > 20


def test_no_pixel_falls_between_triangles_that_share_edges() -> None:
    """A disc made of 96 x 8 ring triangles (many meeting at its centre), facing the camera off-axis: every pixel
    centre inside the disc's polygon is drawn, and none outside (edges are computed from exactly negated
    coefficients on both sides, so this holds at any precision)."""
    v, idx, uv, n = annulus_mesh(0.0, 1.0, 0.0, 1.0)
    V = np.asarray(v) * [0.31, 0.31, 1.0] + [0.07, -0.05, 1.3]
    F = np.asarray(idx).reshape(-1, 3)
    X = V[F] * [1.0, -1.0, 1.0]  # the disc faces +z, away from the camera: mirrored in y, it faces it
    cam = _camera(W=97, H=83, f=(90.0, 90.0), c=(47.9, 41.7))
    r = rasterise(X, cam)
    rim = V[8 * 97 + np.arange(96)] * [1.0, -1.0, 1.0]  # the outer ring of vertices (9 rings of 97)
    inside, dist = _inside_2d(_centres(cam), cam.project(rim)[0])
    drawn = r.triangle.reshape(-1) >= 0
    clear = dist > 1e-7
    assert inside.sum() > 1000
    np.testing.assert_array_equal(drawn[clear], inside[clear])
    np.testing.assert_allclose(r.bary.sum(0), 1.0, atol=1e-12)


def test_triangles_through_the_near_plane_are_cut_exactly() -> None:
    """A large triangle reaching behind the camera (a floor under it): pixels drawn are those whose ray meets
    it beyond the near plane, checked against a ray-triangle test of every pixel centre."""
    cam = Camera(intrinsics(40, 40, 32, 24), np.eye(4), 64, 48, near=0.1, far=100)
    X = _front_facing(np.array([[-3.0, 0.5, -1.0], [3.0, 0.5, -1.0], [0.0, 0.5, 8.0]]))  # y = 0.5: below the camera
    r = rasterise(X[None], cam)
    p = _centres(cam)
    d = np.column_stack([p, np.ones(len(p))]) @ np.linalg.inv(cam.K).T
    # Moller-Trumbore
    e1, e2 = X[1] - X[0], X[2] - X[0]
    h = np.cross(d, e2)
    a = h @ e1
    s = -X[0]
    uu = (h @ s) / a
    q = np.cross(s, e1)
    vv = (d @ q) / a
    t = (q @ e2) / a
    hit = (uu >= 0) & (vv >= 0) & (uu + vv <= 1) & (t > cam.near)
    margin = np.minimum(np.minimum(np.abs(uu), np.abs(vv)), np.abs(1 - uu - vv)) > 1e-9
    drawn = r.triangle.reshape(-1) == 0
    assert hit.sum() > 500 and np.any(np.abs(X[:, 2]) < 5)  # it does reach behind the camera
    np.testing.assert_array_equal(drawn[margin], hit[margin])
    np.testing.assert_allclose(r.depth.reshape(-1)[drawn], t[drawn], rtol=1e-6)


def test_empty_inputs_and_bad_meshes() -> None:
    cam = _camera()
    r = rasterise(np.zeros((0, 3, 3)), cam)
    assert np.all(r.triangle == -1) and np.all(r.depth == 0) and r.bary.shape == (3, 0)
    behind = np.array([[[-0.5, -0.4, -1.5], [0.0, 0.5, -1.4], [0.6, -0.3, -1.6]]])
    assert np.all(rasterise(behind, cam, cull=False).triangle == -1)
    out = render_bodies([], cam, FLAT)
    assert np.all(out.instance == -1) and out.rgb.shape == (47, 61, 3) and np.all(out.normals == 0)
    bad = MeshBody("lid", [[0, 0, 0], [1, 0, 0], [0, 1, 0]], [0, 1, 3], [[0, 0]] * 3, [[0, 0, 1]] * 3, "white",
                   lambda: np.full((2, 2, 3), 255, np.uint8), "bad")
    with pytest.raises(ValueError, match="mesh body 'lid'"):
        render_bodies([bad], cam, FLAT)
    grey = MeshBody("lid", [[0, 0, 0], [1, 0, 0], [0, 1, 0]], [0, 1, 2], [[0, 0]] * 3, [[0, 0, 1]] * 3, "grey2d",
                    lambda: np.full((2, 2), 255, np.uint8), "grey")
    with pytest.raises(ValueError, match="texture 'grey2d' must be H x W x 3 uint8"):
        render_bodies([grey], cam, FLAT)
