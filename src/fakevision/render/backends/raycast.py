"""The ``raycast`` backend: closed-form ray casting of the primitive shapes in NumPy, no rasteriser.

Every object of a scene is a box, a sphere (an ellipsoid in general) or a capped cylinder, and a ray meets each of
them in closed form: in the object's frame scaled to the unit shape (unit cube, unit sphere, unit cylinder of
radius 1 and height 2, so the ray parameter, which is the camera z-depth because camera rays have z = 1, is
unchanged), a sphere is a quadratic, a box three slabs, a cylinder a quadratic in x, y cut by the slab |z| <= 1.
The ground is the closed-form plane of ``fakevision.render.analytic`` (depth, homography-warped texture, shading).

What the renderer does per view (``render``), and why it is fast:

* **Windows.** Each object is ray cast only inside the pixel window that holds its projection (a box's corners,
  a sphere's exact projected ellipse box, a cylinder's two rims as circumscribed polygons), so the cost scales
  with the pixels the objects cover, not the image. The ray direction in an object's frame is affine in the pixel
  centre (u, v) (``N @ (u, v, 1)``), so a window's rays cost two multiply-adds per component.
* **Visibility.** The nearest entry point beyond the near plane wins against the ground's depth and the objects
  drawn before it (a z-buffer over windows): the same instance indices, depth (metric z along the optical axis,
  0 where nothing is drawn) and pixel-centre sampling as the pybullet backend, but exact, with no tessellation.
* **Shading.** Only the winning pixels are shaded: exact normals, the object-space texture coordinates of the
  pybullet path's meshes (``fakevision.render.primitives``: a box face carries the whole texture, a sphere's
  longitude/latitude, a cylinder's side unrolled and its caps as discs), the same grey pattern tinted by
  ``Texture.colour`` and sampled nearest as TinyRenderer does, and TinyRenderer's light model calibrated against
  its output: ``c * (ambient + (diffuse * max(n.l, 0) + specular * max(r_z, 0)^2) * light_colour)`` with ``c``
  the tinted texel and ``r`` the light reflected about the normal (world z, as TinyRenderer).
* **Shadows** (``Light.shadows``), so that objects shadow the ground *and each other*: the shadow of a convex
  object on the plane is the convex hull of its silhouette seen along the light, projected onto the plane, and a
  plane polygon's image is the polygon of its vertices' images, so each object's ground shadow is one
  anti-aliased ``cv2.fillPoly`` (exact up to a 48-gon for round silhouettes); object pixels cast exact shadow rays
  towards the light against the objects whose shadow volume (bounding sphere swept along the light) can reach
  them. Shadowed surfaces keep their ambient light only, as the analytic ground's shadows do.
* **Edges** can be anti-aliased (``RaycastBackend(antialias=True)``; off in the shared backend, like
  TinyRenderer's): only the pixels on an object's outline take the mean of 4 sub-pixel rays, each ray's surface
  found exactly and coloured like the neighbouring pixel that shows it; the ground truth keeps its pixel-centre
  definition (as ``render_view(..., supersample=k)`` does). It costs about a third of the render (measured), so
  the throughput-bound default leaves it out.

The ground is ``analytic.ground_depth`` and ``analytic.ground_image`` (both backends share them); object colours
match the pybullet path's to about one grey level where both see the same surface (``tests/render/
test_raycast.py``). Measured (benchmarks/render.py, 256², one core): see the benchmark's table; the per-view cost
is dominated by the full-image ground (depth, warp) and by shading the covered pixels, not by the intersections.

Scenes with user meshes cannot be ray cast in closed form: ``render`` raises ``ValueError`` saying to use the
pybullet renderer. ``RaycastBuffers.normals`` gives the exact camera-frame normals of the view (an extra the
pybullet buffers do not have; ``render_normals`` returns them directly).

Lists of textured triangle meshes (``MeshBody``: the procedural eye) are drawn by ``render_bodies``, an exact,
vectorised z-buffer rasteriser with TinyRenderer's texturing and light model (``fakevision.render.backends.raster``),
with the interpolated vertex normals as ``RaycastBuffers.normals``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from fakevision.render import analytic
from fakevision.render.backends import raster
from fakevision.render.backends.base import RenderBuffers
from fakevision.render.camera import Camera
from fakevision.render.groundtruth import sphere_box
from fakevision.render.scene import Light, MeshBody, Scene
from fakevision.render.textures import bake_grey

#: Side of the object pattern textures (the pybullet path loads 128² patterns for objects).
OBJECT_TEXTURE = 128
#: Sub-pixel sample offsets (in pixels, from the centre) of the anti-aliased outline pixels: a rotated grid.
AA_OFFSETS = ((-0.125, -0.375), (0.375, -0.125), (0.125, 0.375), (-0.375, 0.125))
_SHAPES = ("box", "sphere", "cylinder")
_PATTERNS: dict[tuple[str, int, int], np.ndarray] = {}
_F = np.float32


def _pattern(kind: str, cells: int, variant: int) -> np.ndarray:
    """The grey pattern (one channel, uint8, OBJECT_TEXTURE², rows flipped as TinyRenderer stores them)."""
    key = (kind, cells, variant)
    if key not in _PATTERNS:
        if len(_PATTERNS) > 256:
            _PATTERNS.clear()
        # TinyRenderer flips loaded images vertically and reads texel (u * W, v * H): row v of the flipped image.
        _PATTERNS[key] = np.ascontiguousarray(bake_grey(kind, cells, variant, OBJECT_TEXTURE)[::-1])
    return _PATTERNS[key]


@dataclass
class RaycastBuffers(RenderBuffers):
    """``RenderBuffers`` plus the exact surface normals, assembled on first access of ``normals`` (H x W x 3
    float32, camera frame, OpenCV axes, unit, pointing out of the surface, 0 on the background: the definition of
    ``groundtruth.surface_normals``, but from the intersections instead of the depth map)."""

    _normal_parts: list = field(default_factory=list, repr=False)  # (flat pixel indices, P x 3 float32 normals)
    _ground_normal: np.ndarray | None = field(default=None, repr=False)
    _normals: np.ndarray | None = field(default=None, repr=False)

    @property
    def normals(self) -> np.ndarray:
        # Speed (measured at 256², it runs for every sample): filling H x W x 3 by broadcasting a 3-vector costs
        # ~0.6 ms, filling one row and broadcasting that row ~0.03 ms; scattering the object pixels as 12-byte
        # items at flat indices ~0.06 ms against ~0.3 ms for (rows, cols) fancy indexing. Same values.
        if self._normals is None:
            H, W = self.depth.shape
            if self._ground_normal is not None:  # object pixels are overwritten below
                drawn = self.depth > 0
                if drawn.all():
                    out = np.empty((H, W, 3), np.float32)
                    out[:1] = self._ground_normal
                    out[1:] = out[:1]
                else:
                    out = cv2.merge([drawn.view(np.uint8) * self._ground_normal[k] for k in range(3)])
            else:
                out = np.zeros((H, W, 3), np.float32)
            for flat, n_cam in self._normal_parts:
                _scatter_rows(out, flat, n_cam)
            self._normals = out
        return self._normals


def _scatter_rows(image: np.ndarray, flat: np.ndarray, values: np.ndarray) -> None:
    """``image.reshape(-1, C)[flat] = values`` for a C-contiguous H x W x C ``image``, with each pixel moved as one
    C-item (a void view): one fancy assignment of P items instead of P x C elements (2-5x faster)."""
    item = np.dtype((np.void, image.dtype.itemsize * image.shape[2]))
    values = np.ascontiguousarray(values, dtype=image.dtype)
    image.view(item).reshape(-1)[flat] = values.view(item).reshape(-1)


_CUBE = np.array([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)])
_RIM = np.linspace(0.0, 2 * np.pi, 12, endpoint=False)
# A 12-gon circumscribing the unit circle (vertices at 1 / cos 15 degrees) at both caps: its prism holds the
# cylinder, so the projection of these 24 points bounds the cylinder's.
_CYL_HULL = np.vstack([np.column_stack([np.cos(_RIM) / np.cos(np.pi / 12), np.sin(_RIM) / np.cos(np.pi / 12),
                                        np.full(12, z)]) for z in (-1.0, 1.0)])
_BOX_HULL = np.vstack([_CUBE] * 3)  # 24 points too, so every shape's hull stacks into one array
_ORDER = {"sphere": 0, "box": 1, "cylinder": 2}


class _SceneData:
    """What a view needs from a scene that does not depend on the camera, kept while consecutive views render the
    very same (immutable) ``Scene`` object."""

    def __init__(self, scene: Scene) -> None:
        objs = scene.objects
        n = len(objs)
        self.scene = scene
        self.shape = [o.shape for o in objs]
        self.h = np.array([o.extents for o in objs], np.float64).reshape(n, 3) / 2
        self.R = np.array([o.rotation() for o in objs], np.float64).reshape(n, 3, 3)
        self.p = np.array([o.position for o in objs], np.float64).reshape(n, 3)
        self.tint = np.array([o.texture.colour for o in objs], np.float64).reshape(n, 3)
        self.RT = np.ascontiguousarray(self.R.transpose(0, 2, 1))
        self.M = self.R / self.h[:, None, :]  # unit-frame normal -> world: R (n_unit / h)
        self.patterns = [_pattern(o.texture.kind, o.texture.cells, o.texture.variant) for o in objs]
        self.round = [o.shape == "sphere" and o.extents[0] == o.extents[1] == o.extents[2] for o in objs]
        self.order = sorted(range(n), key=lambda i: (_ORDER[objs[i].shape], i))
        self.pattern_stack = np.stack(self.patterns) if n else np.zeros((0, OBJECT_TEXTURE, OBJECT_TEXTURE), np.uint8)
        # Bounding spheres (about each object's origin), for the coarse test of which object can shadow which.
        self.radius = np.where([sh == "sphere" for sh in self.shape], self.h.max(axis=1, initial=0.0),
                               np.linalg.norm(self.h, axis=1))
        l = np.asarray(scene.light.direction, np.float64)
        self.l = l / max(float(np.linalg.norm(l)), 1e-12)
        # Object (unit-shape) frame: q = R^T (X - p) / h; the light direction there (shadow rays).
        self.lo = (self.RT @ self.l) / self.h
        unit = np.stack([_CYL_HULL if s == "cylinder" else _BOX_HULL for s in self.shape]) if n else np.zeros((0, 24, 3))
        self.hull = (unit * self.h[:, None, :]) @ self.RT + self.p[:, None, :]
        corners = (_CUBE[None] * self.h[:, None, :]) @ self.RT + self.p[:, None, :]
        self.shadow_pts = corners
        self.outline: list[np.ndarray] = []
        if n and self.l[2] > 1e-6:
            on_plane = corners - (corners[..., 2:3] / self.l[2]) * self.l
            self.shadow_pts = np.concatenate([corners, on_plane], axis=1)
            self.outline = [self._shadow_outline(i) for i in range(n)]

    def _shadow_outline(self, i: int) -> np.ndarray:
        """World points on the plane z = 0 whose convex hull is object i's shadow there: its silhouette seen
        along the light (a box's corners; a sphere's terminator circle; a cylinder's two cap circles, which
        hold the side's silhouette lines), projected along the light onto the plane. Circles are polygons of
        ``_ARC`` points at the radius between the inscribed and circumscribed one (0.1 % of the radius off)."""
        shape, h, R, p, l = self.shape[i], self.h[i], self.R[i], self.p[i], self.l
        if shape == "box":
            unit = _CUBE
        elif shape == "sphere":
            m = self.lo[i] / np.linalg.norm(self.lo[i])  # in the unit frame the silhouette is the great circle
            e1 = np.cross(m, [1.0, 0.0, 0.0] if abs(m[0]) < 0.9 else [0.0, 1.0, 0.0])  # perpendicular to m
            e1 /= np.linalg.norm(e1)
            e2 = np.cross(m, e1)
            unit = (np.outer(_ARC_C, e1) + np.outer(_ARC_S, e2)) * _ARC_R
        else:
            ring = np.column_stack([_ARC_C * _ARC_R, _ARC_S * _ARC_R])
            unit = np.vstack([np.column_stack([ring, np.full(len(ring), z)]) for z in (-1.0, 1.0)])
        X = (unit * h) @ R.T + p
        return X - (X[:, 2:3] / l[2]) * l


_ARC = np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
_ARC_C, _ARC_S = np.cos(_ARC), np.sin(_ARC)
_ARC_R = 1.0 / np.sqrt(np.cos(np.pi / 48))


def _check(scene: Scene) -> None:
    for obj in scene.objects:
        if obj.shape not in _SHAPES:
            what = obj.mesh_path or obj.category
            raise ValueError(f"renderer raycast draws box/sphere/cylinder only; scene has {obj.shape} {what}; "
                             f"use renderer: pybullet")


def _windows(points: np.ndarray, camera: Camera) -> list[tuple[int, int, int, int] | None]:
    """Per object (points: n x k x 3 world points whose convex hull holds what must be seen): the pixel window
    holding their projection plus a pixel, the whole image if some point is behind the near plane (None if all
    are), None if it misses the image."""
    n = len(points)
    if n == 0:
        return []
    W, H = int(camera.width), int(camera.height)
    R, t = camera.world_to_camera[:3, :3], camera.world_to_camera[:3, 3]
    pc = points @ R.T + t
    z = pc[..., 2]
    uvw = pc @ camera.K.T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[..., :2] / uvw[..., 2:3]
    lo = np.floor(uv.min(axis=1)).astype(np.int64) - 1
    hi = np.ceil(uv.max(axis=1)).astype(np.int64) + 1
    behind = (z <= camera.near).any(axis=1)
    gone = (z <= camera.near).all(axis=1)
    out: list[tuple[int, int, int, int] | None] = []
    for i in range(n):
        if gone[i]:
            out.append(None)
        elif behind[i]:
            out.append((0, 0, W, H))
        else:
            x0, y0, x1, y1 = max(int(lo[i, 0]), 0), max(int(lo[i, 1]), 0), min(int(hi[i, 0]), W), min(int(hi[i, 1]), H)
            out.append((x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None)
    return out


def _intersect(shape: str, ox, oy, oz, dx, dy, dz):
    """(t_in, t_out, hit) of the ray q = o + t d with the unit shape; ``hit`` is None where t_in is already NaN
    on a miss (sphere), else the boolean array t_in <= t_out."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if shape == "sphere":
            a = dx * dx + dy * dy + dz * dz
            b = ox * dx + oy * dy + oz * dz
            sq = np.sqrt(b * b - a * (ox * ox + oy * oy + oz * oz - 1.0))  # NaN where the ray misses
            return -(b + sq) / a, (sq - b) / a, None
        if shape == "box":
            t_in: Any = None
            t_out: Any = None
            for o, d in ((ox, dx), (oy, dy), (oz, dz)):
                t1, t2 = (-1.0 - o) / d, (1.0 - o) / d
                lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
                t_in = lo if t_in is None else np.maximum(t_in, lo)
                t_out = hi if t_out is None else np.minimum(t_out, hi)
            return t_in, t_out, t_in <= t_out
        if shape == "cylinder":
            a = dx * dx + dy * dy
            b = ox * dx + oy * dy
            sq = np.sqrt(b * b - a * (ox * ox + oy * oy - 1.0))
            t1, t2 = (-1.0 - oz) / dz, (1.0 - oz) / dz
            t_in = np.maximum(-(b + sq) / a, np.minimum(t1, t2))
            t_out = np.minimum((sq - b) / a, np.maximum(t1, t2))
            return t_in, t_out, t_in <= t_out
    raise ValueError(f"renderer raycast draws box/sphere/cylinder only, not {shape!r}")


def _shape_surface(shape: str, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outward normals (3 x n, unit-shape frame, not normalised: the object-frame normal is this divided by h) and
    texture coordinates u, v in [0, 1] at unit-frame surface points q (3 x n): the normals of
    ``shapes.normals_object`` and the texture mapping of the primitives' meshes (``fakevision.render.primitives``)."""
    x, y, z = q
    if shape == "sphere":
        phi = np.arctan2(y, x) * (1 / (2 * np.pi))
        return q, phi - np.floor(phi), 1.0 - np.arccos(np.clip(z, -1.0, 1.0)) * (1 / np.pi)
    if shape == "box":
        # q[k, cols] as flat indices into the C-contiguous 3 x P arrays (the same elements, ~2x faster)
        P = q.shape[1]
        qf, cols = np.ascontiguousarray(q).reshape(-1), np.arange(P)
        k = np.argmax(np.abs(q), axis=0)  # the face's axis
        at = k * P + cols
        neg = qf[at] < 0
        n = np.zeros(q.shape)  # C order: its flat view is itself
        n.reshape(-1)[at] = np.where(neg, -1.0, 1.0)
        f = 2 * k + neg  # face: axis, sign
        return n, (qf[_FACE_U[f] * P + cols] + 1.0) * 0.5, (qf[_FACE_V[f] * P + cols] + 1.0) * 0.5
    # cylinder: the cap where |z| > radial distance (the rule of shapes.normals_object), else the side
    cap = np.abs(z) > np.hypot(x, y)
    phi = np.arctan2(y, x) * (1 / (2 * np.pi))
    n = np.where(cap, 0.0, q)
    n[2] = np.where(cap, np.where(z > 0, 1.0, -1.0), 0.0)
    return n, np.where(cap, 0.5 + 0.5 * x, phi - np.floor(phi)), np.where(cap, 0.5 + 0.5 * y, (z + 1.0) * 0.5)


# Texture axes of the box's faces (2 * axis + negative): the face of axis k and sign s carries u along axis a and
# v along b, (a, b) = ((y, z), (z, x), (x, y))[k], the two swapped on the negative face (the meshes' winding).
_FACE_U = np.array([1, 2, 2, 0, 0, 1])
_FACE_V = np.array([2, 1, 0, 2, 1, 0])


class RaycastBackend:
    """Renders scenes of boxes, spheres and cylinders by closed-form ray casting (see the module docstring).

    >>> from fakevision.render.scene import ObjectSpec, Scene
    >>> from fakevision.render.camera import Camera, intrinsics, look_at
    >>> cam = Camera(intrinsics(64, 64, 32, 32), look_at(np.array([0.0, -1, 1]), np.zeros(3)), 64, 64)
    >>> buf = RaycastBackend().render(Scene(objects=(ObjectSpec("box", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1)),)), cam)
    >>> buf.rgb.shape, bool((buf.instance == 0).any()), buf.normals.shape
    ((64, 64, 3), True, (64, 64, 3))
    """

    name = "raycast"

    def __init__(self, antialias: bool = False) -> None:
        self.antialias = antialias
        self._scene: _SceneData | None = None

    def _data(self, scene: Scene) -> _SceneData:
        if self._scene is None or self._scene.scene is not scene:
            _check(scene)
            self._scene = _SceneData(scene)
        return self._scene

    # -- public API ---------------------------------------------------------------------------------------------
    def render(self, scene: Scene, camera: Camera, ground: str = "analytic") -> RaycastBuffers:
        """RGB, instance ids and metric depth of ``scene`` seen by ``camera``. ``ground`` is there for the
        backend protocol: ``"mesh"`` and ``"analytic"`` both draw the closed-form ground (a ray caster has no
        mesh ground)."""
        if ground not in ("mesh", "analytic"):
            raise ValueError(f"ground must be 'mesh' or 'analytic', got {ground!r}")
        return _Frame(self._data(scene), camera, self.antialias).run()

    def render_amodal(self, scene: Scene, camera: Camera) -> np.ndarray:
        """Each object's full silhouette, occluders and ground ignored (n_objects x H x W bool)."""
        frame = _Frame(self._data(scene), camera, False)
        out = np.zeros((len(scene.objects), frame.H, frame.W), bool)
        for i in range(len(scene.objects)):
            window = frame.windows[i]
            if window is not None:
                x0, y0, x1, y1 = window
                t, _, hit = frame.cast(i)
                with np.errstate(invalid="ignore"):
                    m = (t > frame.near) & (t < frame.far)
                out[i, y0:y1, x0:x1] = m if hit is None else m & hit
        return out

    def render_normals(self, scene: Scene, camera: Camera, ground: str = "analytic") -> np.ndarray:
        """H x W x 3 float32 exact surface normals in the camera frame (see ``RaycastBuffers``)."""
        return self.render(scene, camera, ground).normals

    def render_bodies(self, bodies: list[MeshBody], camera: Camera, light: Light) -> RaycastBuffers:
        """Static textured mesh bodies (``instance`` = index into ``bodies``), e.g. the procedural eye, rasterised
        exactly at the pixel centres with TinyRenderer's texturing and light (``raster.render_bodies``); the
        buffers' ``normals`` are the interpolated vertex normals (camera frame, unit, 0 where nothing is drawn)."""
        out = raster.render_bodies(bodies, camera, light)
        buf = RaycastBuffers(out.rgb, out.instance, out.depth)
        buf._normals = out.normals
        return buf


class _Frame:
    """One view of a scene: the per-camera constants and the steps of ``render``."""

    def __init__(self, data: _SceneData, camera: Camera, antialias: bool):
        self.data, self.camera, self.antialias = data, camera, antialias
        self.scene = data.scene
        self.W, self.H = int(camera.width), int(camera.height)
        self.near, self.far = _F(camera.near), _F(camera.far)
        Rc = camera.world_to_camera[:3, :3]
        G = Rc.T @ np.linalg.inv(camera.K)  # world ray through pixel (u, v): C + t G (u, v, 1), t = z-depth
        self.ground_row = G[2].tolist()
        C = camera.position
        # Unit-shape frame of object i: q = o_i + t N_i (u, v, 1).
        self.o = ((C - data.p)[:, None, :] @ data.R)[:, 0, :] / data.h  # R^T (C - p) / h
        self.N = (data.RT @ G) / data.h[:, :, None]  # R^T G / h
        self.windows = _windows(data.hull, camera)
        for i, rnd in enumerate(data.round):
            if rnd and self.windows[i] is not None:  # a sphere's exact box, when it is wholly beyond the near plane
                box = sphere_box(camera.to_camera(data.p[i])[0], float(data.h[i, 0]), camera)
                if box is not None:
                    x0, y0 = max(int(np.floor(box[0])) - 1, 0), max(int(np.floor(box[1])) - 1, 0)
                    x1, y1 = min(int(np.ceil(box[2])) + 1, self.W), min(int(np.ceil(box[3])) + 1, self.H)
                    self.windows[i] = (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
        self.u = np.arange(self.W, dtype=_F) + _F(0.5)
        self.v = (np.arange(self.H, dtype=_F) + _F(0.5))[:, None]

    def cast(self, i: int):
        """(t_in, t_out, hit) of the camera rays through the pixel centres of object i's window (float32 arrays of
        the window's shape; see ``_intersect``)."""
        x0, y0, x1, y1 = self.windows[i]  # type: ignore[misc]
        u, v = self.u[x0:x1], self.v[y0:y1]
        (n00, n01, n02), (n10, n11, n12), (n20, n21, n22) = self.N[i].tolist()
        o0, o1, o2 = self.o[i].tolist()
        return _intersect(self.data.shape[i], o0, o1, o2, n00 * u + (n01 * v + n02), n10 * u + (n11 * v + n12),
                          n20 * u + (n21 * v + n22))

    def run(self) -> RaycastBuffers:
        data, camera, W, H = self.data, self.camera, self.W, self.H
        g = self.scene.ground
        depth = analytic.ground_depth(camera, g) if g.visible else np.zeros((H, W), np.float32)
        instance = np.full((H, W), -1, np.int32)
        near, far = self.near, self.far
        visible = []
        for i in data.order:  # a z-buffer over the objects' windows, starting from the ground's depth
            window = self.windows[i]
            if window is None:
                continue
            x0, y0, x1, y1 = window
            t, _, hit = self.cast(i)
            zw = depth[y0:y1, x0:x1]
            with np.errstate(invalid="ignore"):  # NaN (a missed sphere) compares false
                win = (t > near) & (t < far) & ((zw <= 0) | (t < zw))
            if hit is not None:
                win &= hit
            if win.any():
                np.copyto(zw, t, where=win)
                np.copyto(instance[y0:y1, x0:x1], i, where=win)
                visible.append(i)
        surf = self.surfaces(visible, depth, instance)
        lt = self.scene.light
        shadow, blocked = None, None
        if lt.shadows and data.l[2] > 1e-6 and visible:
            shadow = self.ground_shadow(depth, instance)
            blocked = self.object_shadow(surf)
        if g.visible:
            shade = None if shadow is None else analytic.shadow_shade(lt, shadow[1])
            rgb = analytic.ground_image(camera, g, lt, shade, None if shadow is None else shadow[0])
        else:
            rgb = np.zeros((H, W, 3), np.uint8)
        buf = RaycastBuffers(rgb, instance, depth)
        R = camera.world_to_camera[:3, :3]
        buf._ground_normal = R[:, 2].astype(np.float32) if g.visible else None
        if surf is not None:
            direct = surf.direct if blocked is None else np.where(blocked, 0.0, surf.direct)
            lc = np.asarray(lt.colour, np.float64)
            colour = _colour(surf.tex, lt.ambient + direct * lc[:, None])  # 3 x P
            _scatter_rows(rgb, surf.flat, colour.T)
            buf._normal_parts = [(surf.flat, (surf.n_world @ R.T).astype(np.float32))]
            if self.antialias:
                self.smooth_edges(rgb, depth, instance, visible)
        return buf

    # -- anti-aliasing ------------------------------------------------------------------------------------------
    def smooth_edges(self, rgb: np.ndarray, depth: np.ndarray, instance: np.ndarray, visible: list[int]) -> None:
        """Anti-alias the objects' outlines in ``rgb`` (in place): each drawn pixel with a 4-neighbour of another
        surface, one of the two an object, gets the mean of the ``AA_OFFSETS`` sub-pixel rays. A ray's surface is
        found exactly among the pixel's own and its 4-neighbours' objects, or else the ground; its colour is the
        pixel's own if it is the pixel's surface, else that of a 4-neighbour showing it (so nothing is shaded
        twice). Masks, depth and every other buffer keep their pixel-centre values."""
        camera, W, H = self.camera, self.W, self.H
        wins = [self.windows[i] for i in visible]
        x0, y0 = max(min(w[0] for w in wins) - 1, 0), max(min(w[1] for w in wins) - 1, 0)  # type: ignore[index]
        x1, y1 = min(max(w[2] for w in wins) + 1, W), min(max(w[3] for w in wins) + 1, H)  # type: ignore[index]
        lbl = np.where(depth[y0:y1, x0:x1] > 0, instance[y0:y1, x0:x1], np.int32(-2))  # -1 ground, -2 nothing
        obj = lbl >= 0
        dh = (lbl[:, 1:] != lbl[:, :-1]) & (obj[:, 1:] | obj[:, :-1])
        dv = (lbl[1:] != lbl[:-1]) & (obj[1:] | obj[:-1])
        edge = np.zeros(lbl.shape, bool)
        edge[:, 1:] |= dh
        edge[:, :-1] |= dh
        edge[1:] |= dv
        edge[:-1] |= dv
        edge &= lbl > -2  # undrawn pixels show the background, composited later
        rr, cc = np.nonzero(edge)
        if len(rr) == 0:
            return
        own = lbl[rr, cc]
        h, w = lbl.shape
        nbr_r = np.stack([np.minimum(rr + 1, h - 1), np.maximum(rr - 1, 0), rr, rr])  # 4 x E: down, up, right, left
        nbr_c = np.stack([cc, cc, np.minimum(cc + 1, w - 1), np.maximum(cc - 1, 0)])
        nbr = lbl[nbr_r, nbr_c]
        off = np.asarray(AA_OFFSETS, np.float32)
        su = (cc + _F(x0 + 0.5))[:, None] + off[:, 0]  # E x S sub-pixel sample positions (float32: fast enough,
        sv = (rr + _F(y0 + 0.5))[:, None] + off[:, 1]  # they only decide which surface a sample sees)
        if self.scene.ground.visible:
            a0, a1, a2 = self.ground_row  # world z of the ray through (u, v, 1): the ground is in front if < 0
            with np.errstate(divide="ignore"):
                best = _F(-camera.position[2]) / (a0 * su + (a1 * sv + a2))
            lab = np.where(best > 0, np.int32(-1), np.int32(-2))
            best[best <= 0] = np.inf
        else:
            best, lab = np.full(su.shape, np.inf, _F), np.full(su.shape, -2, np.int32)
        near = self.near
        for i in visible:
            sel = np.flatnonzero((own == i) | (nbr == i).any(axis=0))
            if len(sel) == 0:
                continue
            u, v = su[sel], sv[sel]
            (n00, n01, n02), (n10, n11, n12), (n20, n21, n22) = self.N[i].tolist()
            o0, o1, o2 = self.o[i].tolist()
            t, _, hit = _intersect(self.data.shape[i], o0, o1, o2, n00 * u + (n01 * v + n02),
                                   n10 * u + (n11 * v + n12), n20 * u + (n21 * v + n22))
            b = best[sel]
            with np.errstate(invalid="ignore"):
                win = (t > near) & (t < b)
            if hit is not None:
                win &= hit
            best[sel] = np.where(win, t, b)
            lab[sel] = np.where(win, np.int32(i), lab[sel])
        # Which pixel each sample takes its colour from: its own, or the first neighbour in order showing its
        # surface; as a flat index into the window.
        src = np.repeat((rr * w + cc)[:, None], len(off), axis=1)
        nflat = nbr_r * w + nbr_c
        other = lab != own[:, None]
        for k in range(3, -1, -1):
            np.copyto(src, nflat[k][:, None], where=other & (lab == nbr[k][:, None]))
        total = rgb[y0:y1, x0:x1].reshape(-1, 3)[src].sum(axis=1, dtype=np.uint16)  # read before writing
        rgb[rr + y0, cc + x0] = ((total + len(off) // 2) // len(off)).astype(np.uint8)

    # -- shading ------------------------------------------------------------------------------------------------
    def surfaces(self, visible: list[int], depth: np.ndarray, instance: np.ndarray) -> _Surfaces | None:
        """Every object pixel's surface point, normal, texel and direct light (see ``_Surfaces``)."""
        if not visible:
            return None
        data = self.data
        rows_l, cols_l, counts = [], [], []
        for i in visible:
            x0, y0, x1, y1 = self.windows[i]  # type: ignore[misc]
            # flatnonzero + divmod: the pixels of np.nonzero, in the same order, ~5x faster
            rr, cc = np.divmod(np.flatnonzero(instance[y0:y1, x0:x1] == i), x1 - x0)
            rows_l.append(rr + y0)
            cols_l.append(cc + x0)
            counts.append(len(rr))
        sf = _Surfaces()
        sf.visible, sf.counts = visible, counts
        sf.rows, sf.cols = rows, cols = np.concatenate(rows_l), np.concatenate(cols_l)
        sf.flat = rows * self.W + cols
        P = len(rows)
        sf.t = t = depth.reshape(-1)[sf.flat].astype(np.float64)
        sf.uvw = uvw = np.empty((3, P))  # pixel centres (u, v, 1), one column per pixel
        uvw[0], uvw[1], uvw[2] = cols + 0.5, rows + 0.5, 1.0
        n_world = np.empty((3, P))
        tu, tv = np.empty(P), np.empty(P)
        start = 0
        for i, m in zip(visible, counts, strict=True):
            s = slice(start, start + m)
            start += m
            q = self.o[i][:, None] + t[s] * (self.N[i] @ uvw[:, s])  # unit-frame surface points
            n_unit, tu[s], tv[s] = _shape_surface(data.shape[i], q)
            n_world[:, s] = data.M[i] @ n_unit
        n_world /= np.sqrt(n_world[0] * n_world[0] + n_world[1] * n_world[1] + n_world[2] * n_world[2])
        k = np.repeat(np.asarray(visible), counts)  # object index of each pixel
        T = OBJECT_TEXTURE
        texel = data.pattern_stack.reshape(-1)[(k * T + np.minimum((tv * T).astype(np.intp), T - 1)) * T
                                               + np.minimum((tu * T).astype(np.intp), T - 1)]
        # TinyRenderer tints the uint8 texel: truncated. Channel-major (3 x P), as every per-pixel array here:
        # P x 3 broadcasting runs NumPy's inner loops 3 long (this step took ~0.3 ms a view, measured).
        sf.tex = np.floor(texel * np.ascontiguousarray(data.tint.T)[:, k])
        lt, l = self.scene.light, data.l
        ndl = l[0] * n_world[0] + l[1] * n_world[1] + l[2] * n_world[2]
        rz = np.maximum(2.0 * ndl * n_world[2] - l[2], 0.0)  # the reflected light's world z
        sf.direct = np.where(ndl > 0, lt.diffuse * ndl + lt.specular * rz * rz, 0.0)
        sf.n_world = n_world.T
        return sf

    # -- shadows ------------------------------------------------------------------------------------------------
    def ground_shadow(self, depth: np.ndarray, instance: np.ndarray) -> tuple[tuple[int, int, int, int],
                                                                              np.ndarray] | None:
        """(window, float32 in [0, 1] over it): how much of each pixel of the plane z = 0 lies in some object's
        shadow; None if no shadow is in view. The shadow of a convex object on a plane is the convex hull of its
        silhouette projected along the light, and a plane polygon's image is the polygon of its vertices' images:
        each is filled with sub-pixel anti-aliased edges (exact up to the silhouette's polygon). An object that
        reaches behind the near plane falls back to shadow rays through its shadow window."""
        data, camera = self.data, self.camera
        H, W = self.H, self.W
        if not data.outline:
            return None
        mask = np.zeros((H, W), np.uint8)
        span = [W, H, 0, 0]
        uv, z = camera.project(np.concatenate(data.outline))
        start = 0
        for i, o in enumerate(data.outline):
            s = slice(start, start + len(o))
            start += len(o)
            if np.any(z[s] <= camera.near) or np.abs(uv[s]).max() > 1e6:
                win = self._ray_ground_shadow(i, depth, instance, mask)
            else:
                hull = cv2.convexHull(np.rint((uv[s] - 0.5) * 16).astype(np.int32))  # OpenCV: centres at integers
                x0, y0 = (hull[:, 0].min(axis=0) // 16 - 1).tolist()
                x1, y1 = (hull[:, 0].max(axis=0) // 16 + 2).tolist()
                win = (max(x0, 0), max(y0, 0), min(x1, W), min(y1, H))
                if win[2] <= win[0] or win[3] <= win[1]:
                    continue
                cv2.fillPoly(mask, [hull], 255, lineType=cv2.LINE_AA, shift=4)
            if win is not None:
                span = [min(span[0], win[0]), min(span[1], win[1]), max(span[2], win[2]), max(span[3], win[3])]
        x0, y0, x1, y1 = span
        if x1 <= x0 or y1 <= y0:
            return None
        return (x0, y0, x1, y1), mask[y0:y1, x0:x1] * _F(1 / 255)

    def _ray_ground_shadow(self, i: int, depth: np.ndarray, instance: np.ndarray,
                           mask: np.ndarray) -> tuple[int, int, int, int] | None:
        """Shadow rays from the ground pixels of object i's shadow window (marked 255 in ``mask``)."""
        win = _windows(self.data.shadow_pts[i:i + 1], self.camera)[0]
        if win is None:
            return None
        x0, y0, x1, y1 = win
        rr, cc = np.nonzero((instance[y0:y1, x0:x1] < 0) & (depth[y0:y1, x0:x1] > 0))
        rows, cols = rr + y0, cc + x0
        uvw = np.stack([cols + 0.5, rows + 0.5, np.ones(len(rows))])
        hit = self.blocks(i, uvw, depth[rows, cols].astype(np.float64))
        mask[rows[hit], cols[hit]] = 255
        return win

    def object_shadow(self, sf: _Surfaces | None) -> np.ndarray | None:
        """P bools: object pixels whose light another object blocks (exact shadow rays), or None if none can.
        Only pairs where the caster's shadow cylinder (its bounding sphere swept away from the light) meets the
        receiver's bounding sphere are tested."""
        if sf is None or len(self.data.shape) < 2:
            return None
        data = self.data
        l, p, r = data.l, data.p, data.radius
        out = None
        start = 0
        for i, m in zip(sf.visible, sf.counts, strict=True):
            s = slice(start, start + m)
            start += m
            w = p[i] - p  # from each caster j to receiver i
            along = np.maximum(-(w @ l), 0.0)  # the caster's shadow runs along -l
            dist = np.linalg.norm(w + along[:, None] * l, axis=1)
            casters = [j for j in np.flatnonzero(dist <= r + r[i]) if j != i]
            if not casters or not (sf.direct[s] > 0).any():  # pixels facing away from the light are dark already
                continue
            for j in casters:
                hit = self.blocks(int(j), sf.uvw[:, s], sf.t[s])
                if hit.any():
                    out = np.zeros(len(sf.t), bool) if out is None else out
                    out[s] |= hit
        return out

    def blocks(self, j: int, uvw: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Whether object j blocks the light of the surface points seen at pixel centres ``uvw`` (3 x n: u, v,
        1) with depth ``t``: a shadow ray from each towards the light, in j's unit frame."""
        d = self.data.lo[j]
        q = self.o[j][:, None] + t * (self.N[j] @ uvw)
        _, t_out, hit = _intersect(self.data.shape[j], q[0], q[1], q[2], float(d[0]), float(d[1]), float(d[2]))
        with np.errstate(invalid="ignore"):
            block = t_out > 1e-4 * t  # NaN (a miss) compares false
        return block if hit is None else block & hit


class _Surfaces:
    """The visible object pixels of a view, object by object (``visible`` in shape order, ``counts`` pixels
    each): ``rows``, ``cols`` (and ``flat`` = rows * W + cols), depth ``t``, pixel centres ``uvw`` (3 x P: u, v,
    1), tinted texels ``tex`` (3 x P: R, G, B rows), TinyRenderer's ``direct`` light term before shadows (P), world
    unit normals ``n_world`` (P x 3)."""

    visible: list[int]
    counts: list[int]
    rows: np.ndarray
    cols: np.ndarray
    flat: np.ndarray
    t: np.ndarray
    uvw: np.ndarray
    tex: np.ndarray
    direct: np.ndarray
    n_world: np.ndarray


def _colour(tex: np.ndarray, light: np.ndarray) -> np.ndarray:
    """TinyRenderer's fragment colour: int(texel * light), saturated at 255."""
    return np.minimum(tex * light, 255.0).astype(np.uint8)


_BACKEND: RaycastBackend | None = None


def get_backend() -> RaycastBackend:
    """The process's shared raycast backend (created on first use)."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = RaycastBackend()
    return _BACKEND
