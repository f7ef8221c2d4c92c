"""The analytic ground: the plane z = 0 drawn in closed form instead of by the rasteriser.

Why (measured, benchmarks/render.py, one core): TinyRenderer costs about 0.24 µs per output pixel even for an
empty scene (16 ms at 256²), whatever covers the pixels, so a textured ground that fills the frame keeps every
pixel expensive. The ground is a plane, so its image, depth and normal are closed form: its texture is a
homography warp (``cv2.warpPerspective``), its z-depth along the ray through pixel centre (u, v) is
``-C_z / d_z`` with ``d = R^T K^-1 (u, v, 1)`` (affine in u, v), its normal is the world +z. The rasteriser then
draws only the objects, over the smallest pixel window that holds their projected bounding boxes (a camera with
the principal point shifted by the window's integer offset, so pixel centres stay exactly where they were), and
the two are composited by depth: an object pixel wins where it is nearer than the plane.

Shadows: TinyRenderer's shadow map only exists when it draws the ground, so here each object's bounding-box
corners are projected along the light onto the plane, their convex hull filled (sub-pixel ``cv2.fillPoly``),
blurred to a soft edge and the ground's light reduced to its ambient part there. Shadows touch ground RGB only,
never masks, depth or keypoints (tested).

Lighting of the ground follows TinyRenderer's model for a surface with normal +z (calibrated against its output,
see ``ground_shading``), so the two ground modes look alike; the analytic one samples the texture bilinearly
(TinyRenderer: nearest), hence smoother far away. Objects get no cast shadows (from each other) in this mode.

Measured (benchmarks/render.py, 256², one core, CPU time): ``render`` 37 -> 12 ms/frame with shadows, ``source``
(everything the engine calls) 51 -> 20 ms/frame; the ground truth is unchanged (same instance buffer, depth within
float32 rounding, tests/render/test_groundtruth.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from fakevision.render.camera import Camera
from fakevision.render.meshes import object_vertices
from fakevision.render.scene import Ground, Light, ObjectSpec, Scene
from fakevision.render.textures import bake_grey

#: Pixels added around the objects' projected boxes before cropping the rasteriser's window.
MARGIN = 2
#: Side of the ground pattern texture (the mesh ground loads the same 256² pattern).
GROUND_TEXTURE = 256
_PATTERNS: dict[tuple[str, int, int], np.ndarray] = {}  # one-channel grey patterns


def object_corners(obj: ObjectSpec) -> np.ndarray:
    """World positions (8 x 3) of the corners of the object's bounding box (its ``extents`` about its origin; a
    mesh's scaled vertices' box), which contains every shape drawn for it."""
    if obj.shape == "mesh" and obj.mesh_path:
        v = object_vertices(obj.mesh_path, obj.extents)
        lo, hi = v.min(axis=0), v.max(axis=0)
    else:
        hi = np.asarray(obj.extents, np.float64) / 2
        lo = -hi
    c = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    return obj.to_world(c)


def objects_window(scene: Scene, camera: Camera) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) integer pixel window that holds every object's projection (plus ``MARGIN``), clipped to
    the image; the whole image if some object reaches behind the camera's near plane; None if no object is in
    view."""
    if not scene.objects:
        return None
    pts = np.vstack([object_corners(o) for o in scene.objects])
    uv, z = camera.project(pts)
    W, H = camera.width, camera.height
    if np.any(z <= camera.near):
        return 0, 0, W, H
    x0 = int(np.floor(uv[:, 0].min())) - MARGIN
    y0 = int(np.floor(uv[:, 1].min())) - MARGIN
    x1 = int(np.ceil(uv[:, 0].max())) + MARGIN
    y1 = int(np.ceil(uv[:, 1].max())) + MARGIN
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def window_camera(camera: Camera, window: tuple[int, int, int, int]) -> Camera:
    """The camera that sees exactly pixels ``window`` of ``camera`` (same pose, principal point shifted)."""
    x0, y0, x1, y1 = window
    K = camera.K.copy()
    K[0, 2] -= x0
    K[1, 2] -= y0
    return Camera(K, camera.world_to_camera, x1 - x0, y1 - y0, camera.near, camera.far)


def ground_depth(camera: Camera, ground: Ground) -> np.ndarray:
    """H x W float32 z-depth of the ground square at every pixel centre, 0 where the ray misses it (above the
    horizon, off the square, or outside the camera's clipping range).

    Fast path (bitwise the same result): the per-pixel range and extent tests are skipped when the image's corners
    show they cannot fail. The ray's world z is affine in the pixel, so where it is negative at the four corners it
    is negative everywhere, and the depth -C_z / d_z and the hit point's x, y (ratios of affine functions whose
    denominator keeps its sign) take their extremes at the corners too. The common case, a camera looking down at
    a ground larger than the view, then costs two image-sized operations (~0.25 ms instead of ~0.4 ms at 256²,
    measured); the shortcut came from the raycast backend and serves every backend now."""
    W, H = int(camera.width), int(camera.height)
    R, C = camera.world_to_camera[:3, :3], camera.position
    A64 = R.T @ np.linalg.inv(camera.K)
    corners = np.array([[0.5, 0.5, 1.0], [W - 0.5, 0.5, 1.0], [0.5, H - 0.5, 1.0], [W - 0.5, H - 0.5, 1.0]]) @ A64.T
    with np.errstate(divide="ignore", invalid="ignore"):
        s_c = -C[2] / corners[:, 2]
        xy = np.abs(C[:2] + s_c[:, None] * corners[:, :2])
    margin = 1e-4  # relative: float32 rounding of the per-pixel values stays far inside it
    if (np.all(corners[:, 2] < 0) and np.all(s_c > camera.near * (1 + margin))
            and np.all(s_c < camera.far * (1 - margin)) and np.all(xy < ground.size / 2 * (1 - margin))):
        return _plane_depth(A64.astype(np.float32), float(C[2]), W, H)
    return _ground_depth_tested(camera, ground)


def _plane_depth(A: np.ndarray, cz: float, W: int, H: int) -> np.ndarray:
    """-C_z / d_z at every pixel centre, d_z = A[2] . (u, v, 1) in float32 (the expression of
    ``_ground_depth_tested``, evaluated in place)."""
    u = np.arange(W, dtype=np.float32) + np.float32(0.5)
    v = np.arange(H, dtype=np.float32)[:, None] + np.float32(0.5)
    dz = A[2, 0] * u + A[2, 1] * v
    dz += A[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(np.float32(-cz), dz, out=dz)


def _ground_depth_tested(camera: Camera, ground: Ground) -> np.ndarray:
    """``ground_depth`` with the per-pixel tests: for views where a ray may miss the square or leave the
    clipping range (the horizon in view, the square's edge in view)."""
    W, H = camera.width, camera.height
    R, C = camera.world_to_camera[:3, :3], camera.position
    # d = R^T K^-1 (u, v, 1) for u = i + 0.5, v = j + 0.5: each component is affine in (i, j). float32 is
    # exact enough (relative error ~1e-6 where the plane is in range: the ray's d_z is then far from 0).
    A = (R.T @ np.linalg.inv(camera.K)).astype(np.float32)  # 3 x 3
    u = np.arange(W, dtype=np.float32) + np.float32(0.5)
    v = np.arange(H, dtype=np.float32)[:, None] + np.float32(0.5)
    dz = A[2, 0] * u + A[2, 1] * v + A[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.float32(-C[2]) / dz
    ok = (s > camera.near) & (s < camera.far)
    half = ground.size / 2
    if np.any(ok):
        # |X - C_x| = s |d_x| with d_x affine in (u, v), so its maximum over the image is at a corner: when even
        # the farthest hit stays inside the square along x and y, skip the per-pixel test.
        corners = np.array([[0.0, 0.0, 1.0], [W, 0.0, 1.0], [0.0, H, 1.0], [W, H, 1.0]])
        dxy = np.abs(corners @ A[:2].astype(np.float64).T).max(axis=0)
        s_max = float(s[ok].max())
        if np.any(np.abs(C[:2]) + s_max * dxy * (1 + 1e-6) > half):
            X = (A[0, 0] * u + A[0, 1] * v + A[0, 2]) * s + np.float32(C[0])
            Y = (A[1, 0] * u + A[1, 1] * v + A[1, 2]) * s + np.float32(C[1])
            ok &= (np.abs(X) <= half) & (np.abs(Y) <= half)
    s[~ok] = 0.0
    return s


def _pattern(kind: str, cells: int, variant: int) -> np.ndarray:
    """The ground's grey pattern (GROUND_TEXTURE², one channel uint8), baked once per kind."""
    key = (kind, cells, variant)
    if key not in _PATTERNS:
        if len(_PATTERNS) > 256:
            _PATTERNS.clear()
        _PATTERNS[key] = bake_grey(kind, cells, variant, GROUND_TEXTURE)
    return _PATTERNS[key]


def ground_shading(light: Light) -> float:
    """Light factor of the ground (normal +z) in TinyRenderer's model, constant over the plane for its directional
    light: ``ambient + diffuse * l_z + specular * l_z ** 2`` (l the unit direction to the light; TinyRenderer's
    specular term uses the reflected light's z, not the view direction; calibrated against its output)."""
    l = np.asarray(light.direction, np.float64)
    lz = max(0.0, float(l[2] / np.linalg.norm(l)))
    return light.ambient + light.diffuse * lz + light.specular * lz**2


def shadow_shade(light: Light, coverage: np.ndarray) -> np.ndarray:
    """Per-pixel light factor of ground whose shadow ``coverage`` (float32 in [0, 1]) is given: covered ground
    keeps its ambient light only, ``1 - (1 - ambient / ground_shading) * coverage``."""
    keep = light.ambient / max(ground_shading(light), 1e-6)
    return 1.0 - np.float32(1.0 - min(keep, 1.0)) * coverage


def ground_image(camera: Camera, ground: Ground, light: Light, shade: np.ndarray | None = None,
                 window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """H x W x 3 uint8: the ground's texture warped into the image, tinted and lit (undefined where the ray
    misses the ground); ``shade`` (float32) multiplies the light per pixel (shadows): H x W, or the size of
    ``window`` = (x0, y0, x1, y1) when that is given (pixels outside it keep the full light).

    How, and why (measured at 256²): the pattern is grey, so one channel is warped (bilinear,
    ``cv2.warpPerspective``) and then tinted and lit per channel through 256-entry tables (``cv2.LUT``), ~0.6 ms;
    warping three equal channels and scaling them (``cv2.transform`` by ``diag(k)``) cost ~1.1 ms. The pixels are
    the same: warping interpolates each channel alike, and ``cv2.transform`` of uint8 scales in float32 and rounds
    half to even, as the tables do (pinned by tests/render/test_raycast.py against the plain formula)."""
    W, H = int(camera.width), int(camera.height)
    grey = _pattern(ground.texture.kind, ground.texture.cells, ground.texture.variant)
    T, S = GROUND_TEXTURE, ground.size
    # image pixel (OpenCV integer centres) -> our corner coordinates -> plane (X, Y) -> texture pixel.
    shift = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    P = camera.K @ camera.world_to_camera[:3, :]
    Hp = np.linalg.inv(P[:, [0, 1, 3]])  # image -> plane (X, Y, 1), up to scale
    # u = (X + S/2) / S across the texture's columns, v = (Y + S/2) / S across its rows (as the ground mesh's
    # UVs); texture pixel centres at integers in OpenCV.
    A = np.array([[T / S, 0.0, T / 2 - 0.5], [0.0, T / S, T / 2 - 0.5], [0.0, 0.0, 1.0]])
    M = A @ Hp @ shift
    warped = cv2.warpPerspective(grey, M, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
    k = (ground_shading(light) * np.asarray(ground.texture.colour, np.float64)
         * np.asarray(light.colour, np.float64)).astype(np.float32)
    lut = np.clip(np.rint(_LEVELS * k), 0, 255).astype(np.uint8)  # 256 x 3: round(level * k_c), saturated
    out = cv2.merge([cv2.LUT(warped, np.ascontiguousarray(lut[:, c])) for c in range(3)])
    if shade is not None:
        if window is None:
            low = shade < 1.0
            rows, cols = np.nonzero(low.any(axis=1))[0], np.nonzero(low.any(axis=0))[0]
            if not len(rows):
                return out
            window = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
            shade = shade[window[1]:window[3], window[0]:window[2]]
        x0, y0, x1, y1 = window
        win = out[y0:y1, x0:x1]
        # win * shade per channel, truncated to uint8; the shade merged to 3 planes first (3x faster than
        # broadcasting it over the colour axis, same products)
        win[...] = np.multiply(win, cv2.merge([shade, shade, shade])).astype(np.uint8)
    return out


_LEVELS = np.arange(256, dtype=np.float32)[:, None]


SHADOW_BLUR = 1.5  # Gaussian sigma of the shadow's edge, in pixels at 256² (scaled with the image)


def shadow_mask(scene: Scene, camera: Camera) -> np.ndarray | None:
    """H x W float32 in [0, 1]: how much of each pixel of the plane z = 0 lies in some object's shadow (the
    convex hull of its bounding-box corners' projection along the light), soft-edged; None if no shadow."""
    l = np.asarray(scene.light.direction, np.float64)
    if l[2] <= 1e-6 or not scene.objects:
        return None
    l = l / np.linalg.norm(l)
    W, H = camera.width, camera.height
    mask = np.zeros((H, W), np.uint8)
    drew = False
    for obj in scene.objects:
        P = _shadow_points(obj)
        on_plane = P - (P[:, 2:3] / l[2]) * l
        uv, z = camera.project(on_plane)
        if np.any(z <= camera.near):
            continue
        hull = cv2.convexHull(np.rint((uv - 0.5) * 16).astype(np.int32))  # OpenCV: pixel centres at integers
        cv2.fillPoly(mask, [hull], 255, lineType=cv2.LINE_AA, shift=4)
        drew = True
    if not drew:
        return None
    sigma = SHADOW_BLUR * max(W, H) / 256
    out = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)
    return out


def _shadow_points(obj: ObjectSpec) -> np.ndarray:
    """World points whose shadow hull is the object's: exact enough for a box; a sphere or cylinder gets a
    ring-and-cap approximation so its shadow is round, not boxy."""
    hx, hy, hz = (e / 2 for e in obj.extents)
    if obj.shape == "sphere":
        pts = _SPHERE * [hx, hy, hz]
    elif obj.shape == "cylinder":
        ring = np.column_stack([hx * np.cos(_RING), hy * np.sin(_RING)])
        pts = np.vstack([np.column_stack([ring, np.full(len(ring), z)]) for z in (-hz, hz)])
    elif obj.shape == "mesh" and obj.mesh_path:
        v = object_vertices(obj.mesh_path, obj.extents)
        return obj.to_world(v[:: max(1, len(v) // 512)])
    else:
        return object_corners(obj)
    return obj.to_world(pts)


_RING = np.linspace(0, 2 * np.pi, 32, endpoint=False)
_SPHERE = np.array([[np.cos(a) * np.sin(b), np.sin(a) * np.sin(b), np.cos(b)]
                    for b in np.linspace(0, np.pi, 9) for a in _RING])
