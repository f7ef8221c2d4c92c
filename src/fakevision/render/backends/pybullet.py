"""The default backend: pybullet (pip only, headless), used both as physics simulator and TinyRenderer rasteriser.

One pybullet client per process, connected lazily (a forked worker reconnects), so the engine's workers each have
their own. The world is rebuilt from the scene spec whenever a different scene is asked for; consecutive views of
one scene reuse it, which is why ``views_per_scene`` is cheap.

Why these choices (measured on 2 CPU cores, see benchmarks/render.py): TinyRenderer returns RGB, depth and
segmentation from one call; shadows roughly double the render time; physics settling of six objects costs a few
milliseconds. TinyRenderer samples pixel (i, j) at (i, j + 1) of its own raster, so the projection matrix is
built from K with a half-pixel shift (``Camera.opengl_projection``); the analytic tests pin this.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from fakevision.render.backends.base import RenderBuffers
from fakevision.render.camera import Camera
from fakevision.render.meshes import load_triangles, mesh_frame, render_mesh
from fakevision.render.primitives import unit_mesh
from fakevision.render.scene import Light, MeshBody, ObjectSpec, Scene, Texture
from fakevision.render.textures import bake_pattern

GRAVITY = -9.81
TIME_STEP = 1.0 / 240.0
MAX_MESH_TRIANGLES = 15_000


@contextlib.contextmanager
def _quiet_c_output() -> Iterator[None]:
    """Keep pybullet's C-level banner ("pybullet build time ...", printed on import/connect) off stdout and
    stderr: it would garble CLI output and anything piped from ``fakevision``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                try:  # the banner may sit in C's stdio buffer: flush it into /dev/null first
                    ctypes.CDLL(None).fflush(None)
                except (OSError, AttributeError):
                    pass
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _import_pybullet():  # noqa: ANN202 - the pybullet module
    if "pybullet" in sys.modules:
        return sys.modules["pybullet"]
    with _quiet_c_output():
        import pybullet
    return pybullet

class PyBulletBackend:
    """Builds a scene in a pybullet world, settles it with physics and renders it with TinyRenderer.

    >>> from fakevision.render.scene import Light, MeshBody, ObjectSpec, Scene, Texture
    >>> from fakevision.render.camera import Camera, intrinsics, look_at
    >>> b = PyBulletBackend()
    >>> scene = b.settle(Scene(objects=(ObjectSpec("box", (0.2, 0.2, 0.2), (0.0, 0.0, 0.15)),)))
    >>> round(scene.objects[0].position[2], 2)  # dropped 5 cm, rests on the ground
    0.1
    >>> cam = Camera(intrinsics(64, 64, 32, 32), look_at(np.array([0.0, -1, 1]), np.zeros(3)), 64, 64)
    >>> buf = b.render(scene, cam)
    >>> buf.rgb.shape, bool((buf.instance == 0).any())
    ((64, 64, 3), True)
    """

    name = "pybullet"

    def __init__(self) -> None:
        self._client: int | None = None
        self._pid: int | None = None
        self._scene_key: str | None = None
        self._bodies: list[int] = []
        self._ground: int | None = None
        self._textures: dict[str, int] = {}
        self._tmpdir: str | None = None

    # -- connection -------------------------------------------------------------------------------------------
    def _p(self):  # noqa: ANN202 - the pybullet module
        p = _import_pybullet()

        if self._client is None or self._pid != os.getpid():
            with _quiet_c_output():
                self._client = p.connect(p.DIRECT)
            self._pid = os.getpid()
            self._scene_key = None
            self._textures = {}
            self._tmpdir = tempfile.mkdtemp(prefix="fakevision-tex-")
            atexit.register(shutil.rmtree, self._tmpdir, True)
        return p

    def close(self) -> None:
        """Disconnect (a later call reconnects)."""
        if self._client is not None and self._pid == os.getpid():
            import pybullet as p

            p.disconnect(physicsClientId=self._client)
        self._client = None
        self._scene_key = None

    # -- building -----------------------------------------------------------------------------------------------
    def _texture_id(self, key: str, make: Callable[[], np.ndarray]) -> int:
        """Texture id for ``key`` in the current world; the image is made and written once per process (pybullet
        caches textures by file name for the life of the process, so each key maps to one file forever)."""
        p = self._p()
        if key not in self._textures:
            path = os.path.join(self._tmpdir or "", f"{key}.bmp")  # BMP: no compression time
            if not os.path.exists(path):
                cv2.imwrite(path, cv2.cvtColor(make(), cv2.COLOR_RGB2BGR))
            self._textures[key] = p.loadTexture(path, physicsClientId=self._client)
        return self._textures[key]

    def _pattern_id(self, tex: Texture, size: int) -> int:
        key = f"pattern-{tex.kind}-{tex.cells}-{tex.variant}-{size}"
        return self._texture_id(key, lambda: bake_pattern(tex.kind, tex.cells, tex.variant, size))

    def _shapes(self, obj: ObjectSpec) -> tuple[int, int]:
        p = self._p()
        c = self._client
        e = np.asarray(obj.extents, dtype=np.float64)
        if obj.shape in ("box", "sphere", "cylinder"):
            # Our unit meshes scaled per object, not pybullet's GEOM_BOX/SPHERE/CYLINDER visuals (coarse, smeared
            # textures): see fakevision.render.primitives, also for why unit meshes.
            half = e / 2
            scale = {"box": half, "sphere": half, "cylinder": half}[obj.shape]
            v, idx, uv, nrm = unit_mesh(obj.shape)
            vs = p.createVisualShape(p.GEOM_MESH, vertices=v, indices=idx, uvs=uv, normals=nrm,
                                     meshScale=scale.tolist(), rgbaColor=[1, 1, 1, 1], physicsClientId=c)
            if obj.shape == "box":
                cs = p.createCollisionShape(p.GEOM_BOX, halfExtents=half.tolist(), physicsClientId=c)
            elif obj.shape == "sphere":
                cs = p.createCollisionShape(p.GEOM_SPHERE, radius=float(half[0]), physicsClientId=c)
            else:
                cs = p.createCollisionShape(p.GEOM_CYLINDER, radius=float(half[0]), height=float(e[2]),
                                            physicsClientId=c)
        elif obj.shape == "mesh":
            assert obj.mesh_path is not None
            # Drawn from our own triangles (with face normals and UVs); pybullet's convex hull of the file collides.
            # Drawn from our own triangles (face normals, UVs) in file units, scaled by meshScale so each file is
            # one mesh inside pybullet whatever its size; files above MAX_MESH_TRIANGLES (pybullet takes about 100k
            # vertices per shape) are drawn by pybullet's own loader instead, with the file's normals.
            scale, offset = mesh_frame(obj.mesh_path, obj.extents)
            if len(load_triangles(obj.mesh_path)) <= MAX_MESH_TRIANGLES:
                v, idx, uv, nrm = render_mesh(obj.mesh_path)
                vs = p.createVisualShape(p.GEOM_MESH, vertices=v, indices=idx, uvs=uv, normals=nrm,
                                         meshScale=scale.tolist(), visualFramePosition=offset.tolist(),
                                         rgbaColor=[1, 1, 1, 1], physicsClientId=c)
            else:
                vs = p.createVisualShape(p.GEOM_MESH, fileName=obj.mesh_path, meshScale=scale.tolist(),
                                         visualFramePosition=offset.tolist(), rgbaColor=[1, 1, 1, 1],
                                         physicsClientId=c)
            cs = p.createCollisionShape(p.GEOM_MESH, fileName=obj.mesh_path, meshScale=scale.tolist(),
                                        collisionFramePosition=offset.tolist(), physicsClientId=c)
        else:
            raise ValueError(f"unknown shape {obj.shape!r}")
        if vs < 0 or cs < 0:
            raise RuntimeError(f"pybullet could not create shape {obj.shape} ({obj.mesh_path or ''})")
        return vs, cs

    def _build(self, scene: Scene) -> None:
        key = _scene_key(scene)
        if key == self._scene_key:
            return
        p = self._p()
        c = self._client
        p.resetSimulation(physicsClientId=c)
        self._textures = {}  # texture ids do not survive a reset (the images stay cached inside pybullet)
        p.setGravity(0, 0, GRAVITY, physicsClientId=c)
        p.setTimeStep(TIME_STEP, physicsClientId=c)
        g = scene.ground
        half = [g.size / 2, g.size / 2, 0.05]
        gcs = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
        gvs = -1
        if g.visible:
            v, idx, uv, nrm = unit_mesh("ground")
            gvs = p.createVisualShape(p.GEOM_MESH, vertices=v, indices=idx, uvs=uv, normals=nrm,
                                      meshScale=[g.size / 2, g.size / 2, 1.0], visualFramePosition=[0, 0, 0.05],
                                      rgbaColor=[1, 1, 1, 1], physicsClientId=c)
        self._ground = p.createMultiBody(0, gcs, gvs, basePosition=[0, 0, -0.05], physicsClientId=c)
        if g.visible:
            p.changeVisualShape(self._ground, -1, textureUniqueId=self._pattern_id(g.texture, 256),
                                rgbaColor=[*g.texture.colour, 1.0], physicsClientId=c)
        p.changeDynamics(self._ground, -1, lateralFriction=0.8, physicsClientId=c)
        self._bodies = []
        for obj in scene.objects:
            vs, cs = self._shapes(obj)
            b = p.createMultiBody(obj.mass, cs, vs, basePosition=list(obj.position),
                                  baseOrientation=list(obj.orientation), physicsClientId=c)
            p.changeVisualShape(b, -1, textureUniqueId=self._pattern_id(obj.texture, 128),
                                rgbaColor=[*obj.texture.colour, 1.0], physicsClientId=c)
            p.changeDynamics(b, -1, lateralFriction=0.7, rollingFriction=0.002, spinningFriction=0.002,
                             restitution=0.05, physicsClientId=c)
            self._bodies.append(b)
        self._scene_key = key

    def _build_bodies(self, bodies: list[MeshBody]) -> None:
        key = "bodies:" + hashlib.sha1("|".join(b.fingerprint for b in bodies).encode()).hexdigest()
        if key == self._scene_key:
            return
        p = self._p()
        c = self._client
        p.resetSimulation(physicsClientId=c)
        self._textures = {}
        self._ground = None
        self._bodies = []
        for body in bodies:
            # The body's own (cached) lists, never fresh copies: see fakevision.render.primitives on memory.
            vs = p.createVisualShape(p.GEOM_MESH, vertices=body.vertices, indices=body.indices, uvs=body.uvs,
                                     normals=body.normals, meshScale=list(body.scale), rgbaColor=[1, 1, 1, 1],
                                     physicsClientId=c)
            if vs < 0:
                raise RuntimeError(f"pybullet could not create mesh body {body.name}")
            b = p.createMultiBody(0, -1, vs, basePosition=list(body.position),
                                  baseOrientation=list(body.orientation), physicsClientId=c)
            p.changeVisualShape(b, -1, textureUniqueId=self._texture_id(body.texture_key, body.texture_fn),
                                rgbaColor=[*body.tint, 1.0], physicsClientId=c)
            self._bodies.append(b)
        self._scene_key = key

    def render_bodies(self, bodies: list[MeshBody], camera: Camera, light: Light) -> RenderBuffers:
        """Render static mesh bodies (``instance`` = index into ``bodies``), e.g. the procedural eye."""
        self._build_bodies(bodies)
        return self._render(camera, light)

    # -- physics ------------------------------------------------------------------------------------------------
    def settle(self, scene: Scene, max_steps: int = 240, check_every: int = 24, tol: float = 2e-3) -> Scene:
        """Drop the objects under gravity until they rest (all speeds below ``tol`` m/s, checked every
        ``check_every`` steps) or ``max_steps`` pass; return the scene with the rest poses (``settled=True``).
        Always starts from a freshly built world, so the result depends on the scene alone."""
        self._scene_key = None
        self._build(scene)
        p = self._p()
        c = self._client
        for step in range(1, max_steps + 1):
            p.stepSimulation(physicsClientId=c)
            if step % check_every == 0:
                speeds = [np.linalg.norm(p.getBaseVelocity(b, physicsClientId=c)[0]) for b in self._bodies]
                if not speeds or max(speeds) < tol:
                    break
        objects = []
        for obj, b in zip(scene.objects, self._bodies, strict=True):
            pos, orn = p.getBasePositionAndOrientation(b, physicsClientId=c)
            objects.append(_replace_pose(obj, pos, orn))
        settled = scene.replace(objects=tuple(objects), settled=True)
        # The world now holds exactly the settled scene: views of it need no rebuild.
        self._scene_key = _scene_key(settled)
        return settled

    # -- rendering ----------------------------------------------------------------------------------------------
    def render(self, scene: Scene, camera: Camera, ground: str = "mesh") -> RenderBuffers:
        """RGB, instance ids and metric depth of ``scene`` seen by ``camera`` (one TinyRenderer call).
        ``ground="analytic"`` draws the ground plane in closed form and rasterises only the objects' window
        (``fakevision.render.analytic``); ``"mesh"`` lets TinyRenderer draw everything."""
        self._build(scene)
        if ground == "analytic" and self._ground is not None and scene.ground.visible:
            return self._render_analytic(scene, camera)
        if ground not in ("mesh", "analytic"):
            raise ValueError(f"ground must be 'mesh' or 'analytic', got {ground!r}")
        return self._render(camera, scene.light)

    def _render_analytic(self, scene: Scene, camera: Camera) -> RenderBuffers:
        from fakevision.render import analytic

        W, H = int(camera.width), int(camera.height)
        depth = analytic.ground_depth(camera, scene.ground)
        shade = None
        if scene.light.shadows:
            shadow = analytic.shadow_mask(scene, camera)
            if shadow is not None:  # shadowed ground keeps its ambient light only
                lt = scene.light
                keep = lt.ambient / max(analytic.ground_shading(lt), 1e-6)
                shade = 1.0 - np.float32(1.0 - min(keep, 1.0)) * shadow
        rgb = analytic.ground_image(camera, scene.ground, scene.light, shade)
        instance = np.full((H, W), -1, np.int32)
        window = analytic.objects_window(scene, camera)
        if window is not None:
            x0, y0, x1, y1 = window
            p = self._p()
            c = self._client
            pose = p.getBasePositionAndOrientation(self._ground, physicsClientId=c)
            p.resetBasePositionAndOrientation(self._ground, [0.0, 0.0, -1e4], pose[1], physicsClientId=c)
            try:
                obj = self._render(analytic.window_camera(camera, window), dataclasses.replace(scene.light,
                                                                                                 shadows=False))
            finally:
                p.resetBasePositionAndOrientation(self._ground, *pose, physicsClientId=c)
            gd = depth[y0:y1, x0:x1]
            win = (obj.instance >= 0) & ((gd <= 0) | (obj.depth < gd))
            rgb[y0:y1, x0:x1][win] = obj.rgb[win]
            gd[win] = obj.depth[win]
            instance[y0:y1, x0:x1][win] = obj.instance[win]
        return RenderBuffers(np.ascontiguousarray(rgb), instance, depth)

    def render_amodal(self, scene: Scene, camera: Camera) -> np.ndarray:
        """Each object's full silhouette, occluders ignored (n_objects x H x W bool): one extra render per object
        with every other body (ground included) moved out of sight, then put back."""
        self._build(scene)
        p = self._p()
        c = self._client
        everyone = self._bodies + ([self._ground] if self._ground is not None else [])
        poses = {b: p.getBasePositionAndOrientation(b, physicsClientId=c) for b in everyone}
        away = Light(shadows=False)
        out = np.zeros((len(self._bodies), camera.height, camera.width), bool)
        try:
            for b in everyone:
                p.resetBasePositionAndOrientation(b, [0.0, 0.0, -1e4], poses[b][1], physicsClientId=c)
            for i, b in enumerate(self._bodies):
                p.resetBasePositionAndOrientation(b, *poses[b], physicsClientId=c)
                out[i] = self._render(camera, away).instance == i
                p.resetBasePositionAndOrientation(b, [0.0, 0.0, -1e4], poses[b][1], physicsClientId=c)
        finally:
            for b in everyone:
                p.resetBasePositionAndOrientation(b, *poses[b], physicsClientId=c)
        return out

    def _render(self, camera: Camera, lt: Light) -> RenderBuffers:
        p = self._p()
        W, H = int(camera.width), int(camera.height)
        view = camera.opengl_view().T.reshape(-1).tolist()  # column-major, as OpenGL
        proj = camera.opengl_projection().T.reshape(-1).tolist()
        _, _, rgba, depth, seg = p.getCameraImage(
            W, H, viewMatrix=view, projectionMatrix=proj, renderer=p.ER_TINY_RENDERER,
            lightDirection=list(lt.direction), lightColor=list(lt.colour), lightDistance=10.0,
            lightAmbientCoeff=lt.ambient, lightDiffuseCoeff=lt.diffuse, lightSpecularCoeff=lt.specular,
            shadow=int(lt.shadows), physicsClientId=self._client)
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(H, W, 4)[:, :, :3]
        seg = np.asarray(seg, dtype=np.int64).reshape(H, W)
        lut = np.full(max(self._bodies + [self._ground or 0, 0]) + 2, -1, dtype=np.int32)  # body uid + 1 -> index
        for i, b in enumerate(self._bodies):
            lut[b + 1] = i
        instance = lut[np.clip(seg, -1, len(lut) - 2) + 1]
        z = camera.linear_depth(np.asarray(depth, dtype=np.float32).reshape(H, W))
        return RenderBuffers(np.ascontiguousarray(rgb), instance, z)


def _replace_pose(obj: ObjectSpec, pos: tuple, orn: tuple) -> ObjectSpec:
    import dataclasses

    x, y, z = (float(v) for v in pos)
    qx, qy, qz, qw = (float(v) for v in orn)
    return dataclasses.replace(obj, position=(x, y, z), orientation=(qx, qy, qz, qw))


def _scene_key(scene: Scene) -> str:
    # repr of the frozen dataclasses: exact floats, so two scenes share a key only if they are equal.
    return hashlib.sha1(repr(scene).encode()).hexdigest()


_BACKEND: PyBulletBackend | None = None


def get_backend() -> PyBulletBackend:
    """The process's shared backend (created on first use)."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = PyBulletBackend()
    return _BACKEND
