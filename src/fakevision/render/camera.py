"""Pinhole cameras in the project's conventions, and the exact OpenGL matrices that make a rasteriser agree with them.

Conventions (design.md §3): camera axes are OpenCV's (x right, y down, z forward), ``world_to_camera`` is a 4x4
rigid transform, and image coordinates are continuous with (0, 0) at the top-left *corner*, so the pixel in column
i, row j has its centre at (i + 0.5, j + 0.5). A world point X projects to ``u = K @ (R X + t)`` divided by depth.

Why the OpenGL matrices live here: the renderer must use *the same* K as the keypoint projection, or keypoints and
masks drift apart by a fraction of a pixel that no test of either alone would notice. ``opengl_projection`` builds
the projection from K (not from a field of view), and includes the half-pixel shift that pybullet's TinyRenderer
needs: it samples pixel (i, j) at the renderer coordinate (i, j + 1) instead of the centre (measured with edges
placed at sub-pixel positions; pinned by ``tests/render/test_camera_conventions.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# OpenCV camera axes -> OpenGL camera axes (y up, looking down -z).
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """The 3x3 intrinsic matrix K.

    >>> intrinsics(100, 100, 64, 48).tolist()
    [[100.0, 0.0, 64.0], [0.0, 100.0, 48.0], [0.0, 0.0, 1.0]]
    """
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 1.0), roll: float = 0.0) -> np.ndarray:
    """World->camera 4x4 (OpenCV axes) for a camera at ``eye`` looking at ``target``; ``roll`` in radians turns the
    image clockwise about the optical axis.

    >>> T = look_at(np.array([0.0, 0, 2]), np.zeros(3), up=np.array([0.0, 1, 0]))
    >>> np.round(T @ [0, 0, 0, 1], 6).tolist()  # the target is 2 m straight ahead
    [0.0, 0.0, 2.0, 1.0]
    """
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x) < 1e-9:  # looking along `up`: any perpendicular will do
        x = np.cross(z, [1.0, 0.0, 0.0] if abs(z[0]) < 0.9 else [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    if roll:
        c, s = np.cos(roll), np.sin(roll)
        R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ R
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ eye
    return T


@dataclass(eq=False)
class Camera:
    """A pinhole camera: intrinsics ``K`` (3x3, pixels), ``world_to_camera`` (4x4, OpenCV axes), image size and
    the clipping range used by the rasteriser's depth buffer (metres).

    >>> cam = Camera(intrinsics(50, 50, 32, 24), np.eye(4), 64, 48)
    >>> uv, z = cam.project(np.array([[0.0, 0.0, 2.0], [0.2, -0.1, 1.0]]))
    >>> uv.tolist(), z.tolist()
    ([[32.0, 24.0], [42.0, 19.0]], [2.0, 1.0])
    """

    K: np.ndarray
    world_to_camera: np.ndarray
    width: int
    height: int
    near: float = 0.05
    far: float = 20.0
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        self.world_to_camera = np.asarray(self.world_to_camera, dtype=np.float64).reshape(4, 4)
        if not 0 < self.near < self.far:
            raise ValueError(f"camera clipping range must satisfy 0 < near < far, got {self.near}, {self.far}")

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        R, t = self.world_to_camera[:3, :3], self.world_to_camera[:3, 3]
        return -R.T @ t

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """World points (N x 3) -> camera coordinates (N x 3, OpenCV axes)."""
        P = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        return P @ self.world_to_camera[:3, :3].T + self.world_to_camera[:3, 3]

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points: returns (N x 2 image coordinates in the corner convention, N z-depths).
        Points behind the camera get NaN coordinates."""
        pc = self.to_camera(points_world)
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uvw = pc @ self.K.T
            uv = uvw[:, :2] / uvw[:, 2:3]
        uv[z <= 0] = np.nan
        return uv, z

    def rays(self) -> np.ndarray:
        """H x W x 3 directions through the pixel centres with z = 1 (camera frame): X_cam = depth * ray."""
        if "rays" not in self._cache:
            u, v = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
            Kinv = np.linalg.inv(self.K)
            pix = np.stack([u, v, np.ones_like(u)], axis=-1)
            self._cache["rays"] = pix @ Kinv.T
        return self._cache["rays"]

    def backproject(self, depth: np.ndarray) -> np.ndarray:
        """Metric z-depth (H x W) -> world points (H x W x 3); pixels with depth 0 give the camera centre."""
        pc = self.rays() * depth[..., None]
        R, t = self.world_to_camera[:3, :3], self.world_to_camera[:3, 3]
        return (pc - t) @ R  # R^T (pc - t), row-vector form

    def opengl_view(self) -> np.ndarray:
        """4x4 OpenGL view matrix (camera looks down -z, y up) equal to ``world_to_camera`` up to the axis flip."""
        return _CV_TO_GL @ self.world_to_camera

    def opengl_projection(self, pixel_shift: tuple[float, float] = (-0.5, 0.5)) -> np.ndarray:
        """4x4 OpenGL projection made from K, so that the rasteriser's pixel (i, j) sees the ray through our
        (i + 0.5, j + 0.5). ``pixel_shift`` is the rasteriser's sampling offset (TinyRenderer's by default)."""
        fx, fy = self.K[0, 0], self.K[1, 1]
        cx, cy = self.K[0, 2] + pixel_shift[0], self.K[1, 2] + pixel_shift[1]
        s = self.K[0, 1]
        W, H, n, f = self.width, self.height, self.near, self.far
        return np.array([
            [2 * fx / W, -2 * s / W, 1 - 2 * cx / W, 0.0],
            [0.0, 2 * fy / H, 2 * cy / H - 1, 0.0],
            [0.0, 0.0, -(f + n) / (f - n), -2 * f * n / (f - n)],
            [0.0, 0.0, -1.0, 0.0],
        ])

    def linear_depth(self, buffer: np.ndarray) -> np.ndarray:
        """Convert an OpenGL depth buffer (values in [0, 1], non-linear) to metric z-depth along the optical axis;
        pixels at the far plane (nothing drawn) become 0."""
        d = np.asarray(buffer, dtype=np.float64)
        n, f = self.near, self.far
        z = f * n / (f - (f - n) * d)
        z[d >= 1.0 - 1e-7] = 0.0
        return z.astype(np.float32)

    def scaled(self, k: int) -> Camera:
        """The same camera with ``k`` times the resolution: in the corner convention every coordinate simply
        scales, ``K' = diag(k, k, 1) K``, so a k x k block of the new image covers exactly one old pixel.

        >>> Camera(intrinsics(50, 50, 32, 24), np.eye(4), 64, 48).scaled(2).K[:2].tolist()
        [[100.0, 0.0, 64.0], [0.0, 100.0, 48.0]]
        """
        S = np.diag([float(k), float(k), 1.0])
        return Camera(S @ self.K, self.world_to_camera, self.width * k, self.height * k, self.near, self.far)

    def to_json(self) -> dict:
        """JSON form for ``Annotations.extras`` and provenance."""
        return {
            "K": np.round(self.K, 9).tolist(),
            "world_to_camera": np.round(self.world_to_camera, 9).tolist(),
            "width": int(self.width),
            "height": int(self.height),
            "near": float(self.near),
            "far": float(self.far),
            "axes": "opencv: x right, y down, z forward",
            "pixel_convention": "(0,0) = top-left corner of the top-left pixel; pixel centres at +0.5",
        }
