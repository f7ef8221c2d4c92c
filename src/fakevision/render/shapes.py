"""Geometry of each object shape, independent of any renderer: surface keypoints, points whose projection bounds
the object (amodal boxes), and analytic surface normals.

Keypoints lie *on the surface*, so "visible" can be decided from the rendered buffers. Every sample uses one
keypoint layout of ``NUM_KEYPOINTS`` = 10 points (``Annotations`` holds one schema per image); what each index
means depends on the shape, and each shape's own schema (with real names, ``SHAPE_SCHEMAS``) is named in the
instance's ``instance_attributes["keypoint_schema"]``:

=========  ======================================================================  ==================
shape      points 0..9                                                             schema
=========  ======================================================================  ==================
box        0-3 bottom corners (-x-y, +x-y, +x+y, -x+y), 4-7 top corners, 8 bottom     ``render_box10``
           face centre, 9 top face centre
cylinder   0-3 bottom rim at 0/90/180/270 degrees, 4-7 top rim, 8 bottom cap centre,  ``render_cylinder10``
           9 top cap centre
sphere     0-5 poles +x, -x, +y, -y, +z, -z (object frame); 6-9 unused                ``render_sphere6``
mesh       0-5 the extreme vertices along -x, +x, -y, +y, -z, +z; 6-9 unused          ``render_mesh6``
=========  ======================================================================  ==================

Unused points have visibility 0 and coordinates (0, 0), as COCO expects for unlabelled points. Under a horizontal
image flip the indices stay (the names are object-frame directions, which a mirror image does not swap).
"""

from __future__ import annotations

import numpy as np

from fakevision.core.keypoints import KeypointSchema
from fakevision.render.scene import ObjectSpec

NUM_KEYPOINTS = 10

_BOX_NAMES = (
    "corner_nx_ny_nz", "corner_px_ny_nz", "corner_px_py_nz", "corner_nx_py_nz",
    "corner_nx_ny_pz", "corner_px_ny_pz", "corner_px_py_pz", "corner_nx_py_pz",
    "bottom_centre", "top_centre",
)
_CYL_NAMES = tuple(f"{cap}_rim_{a}" for cap in ("bottom", "top") for a in (0, 90, 180, 270)) + (
    "bottom_centre", "top_centre")
_SPHERE_NAMES = ("pole_px", "pole_nx", "pole_py", "pole_ny", "pole_pz", "pole_nz")
_MESH_NAMES = ("extreme_nx", "extreme_px", "extreme_ny", "extreme_py", "extreme_nz", "extreme_pz")


def _plain(name: str, names: tuple[str, ...]) -> KeypointSchema:
    return KeypointSchema(name, names, tuple(range(len(names))))


#: The one layout every render sample carries (what each index means depends on the instance's shape).
SCHEMA = _plain("render_object10", tuple(f"kp{i}" for i in range(NUM_KEYPOINTS)))
#: Each shape's own schema, with real point names.
SHAPE_SCHEMAS = {"box": _plain("render_box10", _BOX_NAMES), "cylinder": _plain("render_cylinder10", _CYL_NAMES),
                 "sphere": _plain("render_sphere6", _SPHERE_NAMES), "mesh": _plain("render_mesh6", _MESH_NAMES)}


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


_UNIT_SPHERE = _fibonacci_sphere(2048)
_RIM = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)


def keypoints_object(obj: ObjectSpec, mesh_vertices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The object's 10 keypoints in its own frame (10 x 3) and which of them exist (10 bools).

    >>> kp, ok = keypoints_object(ObjectSpec("box", (0.2, 0.4, 0.1), (0.0, 0.0, 0.05)))
    >>> kp[6].tolist(), kp[9].tolist(), int(ok.sum())
    ([0.1, 0.2, 0.05], [0.0, 0.0, 0.05], 10)
    """
    hx, hy, hz = (e / 2 for e in obj.extents)
    pts = np.zeros((NUM_KEYPOINTS, 3))
    ok = np.zeros(NUM_KEYPOINTS, dtype=bool)
    if obj.shape == "box":
        sq = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
        for k, zs in enumerate((-1.0, 1.0)):
            pts[4 * k: 4 * k + 4] = np.column_stack([sq[:, 0] * hx, sq[:, 1] * hy, np.full(4, zs * hz)])
        pts[8], pts[9] = [0, 0, -hz], [0, 0, hz]
        ok[:] = True
    elif obj.shape == "cylinder":
        a = np.deg2rad([0, 90, 180, 270])
        for k, zs in enumerate((-1.0, 1.0)):
            pts[4 * k: 4 * k + 4] = np.column_stack([hx * np.cos(a), hy * np.sin(a), np.full(4, zs * hz)])
        pts[8], pts[9] = [0, 0, -hz], [0, 0, hz]
        ok[:] = True
    elif obj.shape == "sphere":
        pts[:6] = [[hx, 0, 0], [-hx, 0, 0], [0, hy, 0], [0, -hy, 0], [0, 0, hz], [0, 0, -hz]]
        ok[:6] = True
    elif obj.shape == "mesh":
        if mesh_vertices is None or len(mesh_vertices) == 0:
            raise ValueError("mesh keypoints need the mesh's vertices")
        v = np.asarray(mesh_vertices, dtype=np.float64)
        for k in range(3):
            pts[2 * k] = v[np.argmin(v[:, k])]
            pts[2 * k + 1] = v[np.argmax(v[:, k])]
        ok[:6] = True
    else:
        raise ValueError(f"unknown shape {obj.shape!r}")
    return pts, ok


def hull_points_object(obj: ObjectSpec, mesh_vertices: np.ndarray | None = None) -> np.ndarray:
    """Points (object frame) whose projections bound the object's silhouette: a box's corners (exact), a
    cylinder's two rims at 64 points each (the bound is short by at most r * (1 - cos 2.8 degrees) = 0.12 % of the
    radius), 2048 points spread over a sphere (the bound is then short by at most
    r * (1 - cos 2.3 degrees) = 0.08 % of the radius), a mesh's vertices."""
    hx, hy, hz = (e / 2 for e in obj.extents)
    if obj.shape == "box":
        return np.array([[sx * hx, sy * hy, sz * hz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    if obj.shape == "cylinder":
        ring = np.column_stack([hx * np.cos(_RIM), hy * np.sin(_RIM)])
        return np.vstack([np.column_stack([ring, np.full(len(ring), z)]) for z in (-hz, hz)])
    if obj.shape == "sphere":
        return _UNIT_SPHERE * [hx, hy, hz]
    if obj.shape == "mesh" and mesh_vertices is not None:
        return np.asarray(mesh_vertices, dtype=np.float64)
    raise ValueError(f"no hull points for shape {obj.shape!r}")


def normals_object(obj: ObjectSpec, p: np.ndarray) -> np.ndarray | None:
    """Analytic outward unit normals at object-frame points ``p`` (N x 3) that lie on (or near) the surface, or
    None for shapes without an analytic form (meshes: use ``normals_from_points``)."""
    h = np.asarray(obj.extents, dtype=np.float64) / 2
    if obj.shape == "sphere":
        n = p / h**2  # gradient of the ellipsoid implicit function; a sphere's p / r
    elif obj.shape == "box":
        r = np.abs(p) / h
        axis = np.argmax(r, axis=1)
        n = np.zeros_like(p)
        n[np.arange(len(p)), axis] = np.sign(p[np.arange(len(p)), axis])
    elif obj.shape == "cylinder":
        radial = np.hypot(p[:, 0] / h[0], p[:, 1] / h[1])
        cap = np.abs(p[:, 2]) / h[2] > radial
        n = np.column_stack([p[:, 0] / h[0] ** 2, p[:, 1] / h[1] ** 2, np.zeros(len(p))])
        n[cap] = np.column_stack([np.zeros(cap.sum()), np.zeros(cap.sum()), np.sign(p[cap, 2])])
    else:
        return None
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return n / np.maximum(norm, 1e-12)


def normals_from_points(points: np.ndarray, valid: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Normals of a surface given as an H x W x 3 grid of points (back-projected depth): the cross product of the
    central differences along rows and columns, oriented to face ``towards`` (the camera centre). Zero where a
    neighbour is missing. Used for meshes, whose normals have no closed form.

    >>> yy, xx = np.mgrid[0:4, 0:4].astype(float)
    >>> pts = np.stack([xx, yy, np.zeros_like(xx)], -1)
    >>> normals_from_points(pts, np.ones((4, 4), bool), np.array([0, 0, 5.0]))[1, 1].tolist()
    [0.0, 0.0, 1.0]
    """
    out = np.zeros_like(points)
    ok = valid[1:-1, 1:-1] & valid[:-2, 1:-1] & valid[2:, 1:-1] & valid[1:-1, :-2] & valid[1:-1, 2:]
    dx = points[1:-1, 2:] - points[1:-1, :-2]
    dy = points[2:, 1:-1] - points[:-2, 1:-1]
    n = np.cross(dx, dy)
    flip = np.einsum("ijk,ijk->ij", n, towards - points[1:-1, 1:-1]) < 0
    n[flip] *= -1
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(norm > 1e-12, n / np.maximum(norm, 1e-12), 0.0)
    out[1:-1, 1:-1] = np.where(ok[..., None], n, 0.0)
    return out
