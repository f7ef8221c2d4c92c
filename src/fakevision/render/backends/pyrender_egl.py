"""Optional backend ``renderer: pyrender``: OpenGL 3.3 through pyrender, headless through EGL (on a machine without a
GPU, Mesa's llvmpipe). Same scene spec, same buffers and ground-truth semantics as the pybullet backend; a better
picture: metallic-roughness (PBR) shading with smooth normals, the scene's textures on objects and ground
(mip-mapped, trilinear), cast shadows from the directional light, anti-aliased RGB, finer spheres and cylinders.

Install: ``pip install "fakevision[pyrender]"`` and ``apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri``.

How each buffer is made (per view, one pyrender scene built per ``Scene`` and reused for its views, like pybullet's
world):

* **instance and depth**: a segmentation pass (``RenderFlags.SEG``, every node a flat colour that encodes its
  index) at the output resolution with multisampling off, so a pixel belongs to the surface its *centre* sees; the
  projection is ``Camera.opengl_projection`` with no shift, since OpenGL samples pixel (i, j) at its centre
  (i + 0.5, j + 0.5), which is our convention (the analytic tests pin it: sub-pixel edges, plane depth, sphere
  area, K[R|t]X). pyrender's depth buffer is already linear z-depth in metres, 0 where nothing is drawn.
* **RGB**: a second pass, RGBA so that outline pixels against the background are blended with the scene's
  background rather than the clear colour. pyrender renders offscreen into a 4x multisampled framebuffer
  (measured: an edge at sub-pixel positions gives 1/4, 2/4, 3/4 coverage), so silhouettes are anti-aliased at the
  output resolution; ``supersample`` k > 1 renders k x k times the pixels and box-filters them down
  (``cv2.INTER_AREA``) on top of that, for smoother shading and shadow edges. Default 1: at 256² it costs about
  3x the time (the fragment shader dominates on llvmpipe) for a difference that is hard to see side by side.
  Instance and depth never come from this pass, so masks keep their pixel-centre definition whatever k is.
* **shadows** (``Light.shadows``): pyrender's directional shadow map, but fitted to the objects' bounding sphere
  (pyrender fits it to the whole scene, 6 m of ground: 8 mm texels and a depth bias of centimetres) at
  ``SHADOW_MAP`` texels, sampled clamp-to-border (no shadow outside it), drawn with a slope-scaled polygon offset
  and without the ground (which cannot shadow anything above it), so neither the ground nor lit faces show shadow
  acne; looked up with one bilinear 2 x 2 comparison instead of pyrender's 3 x 3 of them (``_LERP_CALL``), which
  halves the time of a shadowed frame and still gives an anti-aliased edge about a texel wide.

Lighting follows the scene's ``Light`` in linear space: the ambient term is ``ambient ** 2.2`` and the directional
light is scaled so that the ground gets the brightness pybullet gives it (``analytic.ground_shading``), lit and in
shadow; ``specular`` sets the surface roughness (more specular, glossier). Tints are sRGB and converted to linear. The
ground is drawn as a mesh whatever ``ground`` says (OpenGL's plane depth is exact to float precision, and the fill
is cheap), which keeps one code path; the argument is validated as in pybullet.
"""

from __future__ import annotations

import collections
import functools
import os
from typing import Any

import cv2
import numpy as np

from fakevision.render.analytic import ground_shading, object_corners
from fakevision.render.backends.base import RenderBuffers
from fakevision.render.backends.pybullet import _scene_key
from fakevision.render.camera import Camera
from fakevision.render.meshes import mesh_frame, render_mesh
from fakevision.render.primitives import (
    box_mesh,
    cylinder_mesh,
    ground_mesh,
    sphere_mesh,
)
from fakevision.render.scene import Light, ObjectSpec, Scene, Texture
from fakevision.render.textures import bake_background, bake_pattern

INSTALL_HINT = ('the pyrender renderer needs: pip install "fakevision[pyrender]" and '
                'apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri')

#: RGB is rendered at this many times the resolution and box-filtered down (on top of pyrender's 4x MSAA).
SUPERSAMPLE = 1
#: Finer than pybullet's unit meshes (32 x 16 sphere, 64-gon cylinder): smooth silhouettes and highlights.
SPHERE_SEGMENTS, SPHERE_RINGS, CYLINDER_SEGMENTS = 96, 48, 128
#: Texture sizes: objects' patterns (pybullet: 128), and the ground's (pybullet: 256; it spans metres: at 512 its dots
#: showed as octagons near the camera). Baking the ground's pattern costs tens of ms once per scene (``bake_pattern``
#: at 1024²), so the baked textures are cached.
OBJECT_TEXTURE, GROUND_TEXTURE = 256, 1024
#: Side of the shadow map (pyrender's is 2048, over the whole scene): fitted to the objects it gives 1-2 mm texels,
#: finer than a pixel at the usual distances, and costs a quarter of pyrender's to clear and sample.
SHADOW_MAP = 1024
#: Segmentation colour codes: 0 = nothing, 1 = ground, 2 + i = scene.objects[i].
_GROUND_CODE, _FIRST_OBJECT = 1, 2


def _import_pyrender() -> Any:
    """pyrender, imported for EGL (unless the user chose another PyOpenGL platform); ImportError naming what to
    install when it or OpenGL is missing."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        import pyrender
    except Exception as e:  # noqa: BLE001 - ImportError, or OpenGL's platform loader failing on a missing libEGL
        raise ImportError(f"{INSTALL_HINT} ({type(e).__name__}: {e})") from None
    return pyrender


def _srgb_to_linear(c: Any) -> np.ndarray:
    c = np.clip(np.asarray(c, np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


@functools.cache
def _geometry(shape: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positions, normals, uvs, triangle indices) of a unit primitive (scaled per object by the node: half
    extents for box, sphere and cylinder; size / 2 for the ground)."""
    if shape == "box":
        m = box_mesh(np.ones(3))
    elif shape == "sphere":
        m = sphere_mesh(1.0, SPHERE_SEGMENTS, SPHERE_RINGS)
    elif shape == "cylinder":
        m = cylinder_mesh(1.0, 2.0, CYLINDER_SEGMENTS)
    elif shape == "ground":
        m = ground_mesh(2.0)
    else:
        raise ValueError(f"no unit mesh for {shape!r}")
    return _arrays(m)


@functools.lru_cache(maxsize=64)
def _mesh_geometry(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A user mesh in file units: one vertex per corner with its face normal, each face in both windings
    (``meshes.render_mesh``), so inconsistent winding in the file cannot hide faces."""
    return _arrays(render_mesh(path))


def _arrays(m: tuple[list, list, list, list]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    v, idx, uv, n = m
    out = (np.asarray(v, np.float32), np.asarray(n, np.float32), np.asarray(uv, np.float32),
           np.asarray(idx, np.uint32).reshape(-1, 3))
    for a in out:
        a.setflags(write=False)
    return out


def _code_colour(code: int) -> tuple[int, int, int]:
    return code & 255, (code >> 8) & 255, (code >> 16) & 255


def _frame(z: np.ndarray) -> np.ndarray:
    """A rotation whose third column is the unit vector ``z``."""
    z = z / np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0] if abs(z[1]) < 0.9 else [1.0, 0.0, 0.0], z)
    x /= np.linalg.norm(x)
    return np.column_stack([x, np.cross(z, x), z])


class PyrenderBackend:
    """Renders a ``Scene`` with pyrender + EGL into ``RenderBuffers`` with the pybullet backend's conventions.

    >>> from fakevision.render.scene import ObjectSpec, Scene
    >>> from fakevision.render.camera import Camera, intrinsics, look_at
    >>> b = get_backend()  # doctest: +SKIP
    >>> scene = Scene(objects=(ObjectSpec("box", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1)),))
    >>> cam = Camera(intrinsics(64, 64, 32, 32), look_at(np.array([0.0, -1, 1]), np.zeros(3)), 64, 64)
    >>> buf = b.render(scene, cam)  # doctest: +SKIP
    >>> buf.rgb.shape, bool((buf.instance == 0).any())  # doctest: +SKIP
    ((64, 64, 3), True)
    """

    name = "pyrender"

    def __init__(self, supersample: int = SUPERSAMPLE) -> None:
        if supersample < 1:
            raise ValueError("supersample must be >= 1")
        self.supersample = int(supersample)
        self._pr = _import_pyrender()
        self._renderer: Any = None
        self._pid: int | None = None
        self._scene_key: str | None = None
        self._scene: Any = None  # the pyrender.Scene of the current fakevision Scene
        self._object_nodes: list[Any] = []
        self._ground_node: Any = None
        self._camera: Any = None
        self._camera_node: Any = None
        self._light: Any = None
        self._light_vp: tuple[np.ndarray, np.ndarray] | None = None
        self._textures: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
        self._backgrounds: dict[str, np.ndarray] = {}  # photo cache for background compositing

    # -- GL context ---------------------------------------------------------------------------------------------
    def _gl(self, width: int, height: int) -> Any:
        """The process's offscreen renderer (created on first use and after a fork), sized to the viewport."""
        pr = self._pr
        if self._renderer is None or self._pid != os.getpid():
            try:
                r = pr.OffscreenRenderer(width, height)
            except Exception as e:  # noqa: BLE001 - no libEGL, no EGL device, a failed eglInitialize, ...
                raise ImportError(f"{INSTALL_HINT} (could not create an EGL context: {type(e).__name__}: {e})") \
                    from None
            inner = r._renderer
            original_shadow_pass = inner._shadow_mapping_pass

            def shadow_pass(scene: Any, light_node: Any, flags: int) -> None:
                # Only the objects cast shadows (the ground cannot shadow anything above it), with a slope-scaled
                # depth offset against acne on lit faces.
                import pyrender.renderer as module
                from OpenGL import GL

                ground = self._ground_node.mesh if self._ground_node is not None else None
                if ground is not None:
                    ground.is_visible = False
                GL.glEnable(GL.GL_POLYGON_OFFSET_FILL)
                GL.glPolygonOffset(2.0, 4.0)
                size, module.SHADOW_TEX_SZ = module.SHADOW_TEX_SZ, SHADOW_MAP  # its viewport, for this pass only
                try:
                    original_shadow_pass(scene, light_node, flags)
                finally:
                    module.SHADOW_TEX_SZ = size
                    GL.glDisable(GL.GL_POLYGON_OFFSET_FILL)
                    if ground is not None:
                        ground.is_visible = True

            inner._shadow_mapping_pass = shadow_pass
            inner._program_cache = _shader_cache(pr)()
            inner._get_light_cam_matrices = lambda scene, light_node, flags: self._light_vp
            self._renderer, self._pid = r, os.getpid()
            self._scene_key = None  # a new context holds none of the old scene's buffers
            self._light = None
            self._textures.clear()
        r = self._renderer
        r.viewport_width, r.viewport_height = int(width), int(height)
        return r

    def close(self) -> None:
        """Release the GL context (a later call makes a new one)."""
        if self._renderer is not None and self._pid == os.getpid():
            self._renderer.delete()
        self._renderer = None
        self._scene_key = None
        self._scene = None
        self._light = None
        self._textures.clear()

    # -- building -----------------------------------------------------------------------------------------------
    def _texture(self, tex: Texture, size: int) -> Any:
        """The pyrender texture of a pattern (grey, tinted by the material), cached (bounded: the ground's are
        large)."""
        pr = self._pr
        key = (tex.kind, tex.cells, tex.variant, size)
        if key in self._textures:
            self._textures.move_to_end(key)
            return self._textures[key]
        from OpenGL import GL

        sampler = pr.Sampler(magFilter=GL.GL_LINEAR, minFilter=GL.GL_LINEAR_MIPMAP_LINEAR, wrapS=GL.GL_REPEAT,
                             wrapT=GL.GL_REPEAT)
        # pyrender uploads row 0 at v = 1; TinyRenderer (and the analytic ground) put row 0 at v = 0: flip.
        image = np.ascontiguousarray(bake_pattern(tex.kind, tex.cells, tex.variant, size)[::-1])
        t = _texture_class(pr)(source=image, source_channels="RGB", sampler=sampler)
        self._textures[key] = t
        # Bounded: at most 16 ground textures (3 MB each) and 128 object ones, least recently used dropped.
        for big, limit in ((True, 16), (False, 128)):
            keys = [k for k in self._textures if (k[3] >= GROUND_TEXTURE) == big]
            for old in keys[: max(0, len(keys) - limit)]:
                del self._textures[old]
        return t

    def _material(self, tex: Texture, size: int, light: Light, double_sided: bool = False) -> Any:
        pr = self._pr
        roughness = float(np.clip(0.75 - light.specular, 0.25, 0.9))
        return pr.MetallicRoughnessMaterial(
            baseColorFactor=[*(float(c) for c in _srgb_to_linear(tex.colour)), 1.0],
            baseColorTexture=self._texture(tex, size), metallicFactor=0.0, roughnessFactor=roughness,
            doubleSided=double_sided)

    def _mesh(self, geometry: tuple[np.ndarray, ...], material: Any) -> Any:
        pr = self._pr
        pos, nrm, uv, idx = geometry
        return pr.Mesh([pr.Primitive(positions=pos, normals=nrm, texcoord_0=uv, indices=idx, material=material)])

    def _object_node(self, obj: ObjectSpec, light: Light) -> Any:
        pr = self._pr
        material = self._material(obj.texture, OBJECT_TEXTURE, light)
        R = obj.rotation()
        pos = np.asarray(obj.position, np.float64)
        if obj.shape in ("box", "sphere", "cylinder"):
            mesh = self._mesh(_geometry(obj.shape), material)
            scale = np.asarray(obj.extents, np.float64) / 2
        elif obj.shape == "mesh":
            assert obj.mesh_path is not None
            scale, offset = mesh_frame(obj.mesh_path, obj.extents)
            mesh = self._mesh(_mesh_geometry(obj.mesh_path), material)
            pos = pos + R @ offset
        else:
            raise ValueError(f"unknown shape {obj.shape!r}")
        q = np.asarray(obj.orientation, np.float64)
        return pr.Node(mesh=mesh, translation=pos, rotation=q / np.linalg.norm(q), scale=scale)

    def _build(self, scene: Scene) -> None:
        key = _scene_key(scene)
        if key == self._scene_key and self._pid == os.getpid():
            return
        pr = self._pr
        self._gl(16, 16)  # make sure the context exists (textures are uploaded on the next render)
        lt = scene.light
        colour = np.asarray(lt.colour, np.float64)
        ambient = max(lt.ambient, 0.0) ** 2.2
        # The ground (normal +z) gets pybullet's brightness, ``analytic.ground_shading``, in and out of shadow;
        # pyrender's diffuse term is 0.96 ** 2 (1 - F0, twice) * base / pi * n.l.
        l = np.asarray(lt.direction, np.float64)
        l = l / np.linalg.norm(l)
        lit = min(ground_shading(lt), 2.0) ** 2.2
        intensity = float(np.pi * max(lit - ambient, 0.0) / (0.96**2 * max(float(l[2]), 0.25)))
        s = pr.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[float(v) for v in ambient * colour])
        g = scene.ground
        self._ground_node = None
        if g.visible:
            node = pr.Node(mesh=self._mesh(_geometry("ground"), self._material(g.texture, GROUND_TEXTURE, lt, True)),
                           scale=np.array([g.size / 2, g.size / 2, 1.0]))
            s.add_node(node)
            self._ground_node = node
        self._object_nodes = []
        for obj in scene.objects:
            node = self._object_node(obj, lt)
            s.add_node(node)
            self._object_nodes.append(node)
        if self._light is None:
            self._light = pr.DirectionalLight()
            self._light.shadow_texture = self._shadow_texture()
        self._light.color = colour
        self._light.intensity = intensity
        pose = np.eye(4)
        pose[:3, :3] = _frame(l)  # pyrender's directional light shines along its node's -z
        s.add(self._light, pose=pose)
        self._light_vp = self._shadow_camera(scene, l)
        self._camera = _camera_class(pr)(znear=0.05, zfar=20.0)
        self._camera_node = s.add(self._camera, pose=np.eye(4))
        self._scene = s
        self._scene_key = key

    def _shadow_texture(self) -> Any:
        """pyrender's shadow map texture, but sampled clamp-to-border (border depth 1 = lit), so receivers outside
        the fitted shadow camera get no ghost shadows from a repeated map."""
        from OpenGL import GL

        pr = self._pr
        size = SHADOW_MAP
        sampler = pr.Sampler(magFilter=GL.GL_NEAREST, minFilter=GL.GL_NEAREST, wrapS=GL.GL_CLAMP_TO_BORDER,
                             wrapT=GL.GL_CLAMP_TO_BORDER)
        return pr.Texture(width=size, height=size, source_channels="D", data_format=GL.GL_FLOAT, sampler=sampler)

    def _shadow_camera(self, scene: Scene, l: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(view, projection) of an orthographic light camera that just holds the objects (bounding sphere of
        their boxes) and every ground point their shadows can reach."""
        if not scene.objects:
            return None
        pts = np.vstack([object_corners(o) for o in scene.objects])
        c = (pts.min(axis=0) + pts.max(axis=0)) / 2
        r = float(np.linalg.norm(pts - c, axis=1).max()) * 1.02 + 1e-3
        margin = 0.05
        reach = max(0.0, float(pts[:, 2].max())) / max(float(l[2]), 0.05)  # how far along -l a shadow travels
        pose = np.eye(4)
        pose[:3, :3] = _frame(l)
        pose[:3, 3] = c + l * (r + margin)
        cam = self._pr.OrthographicCamera(xmag=r, ymag=r, znear=margin / 2, zfar=2 * r + 2 * margin + reach)
        return np.linalg.inv(pose), cam.get_projection_matrix()

    # -- rendering ----------------------------------------------------------------------------------------------
    def _look(self, camera: Camera) -> None:
        self._camera.P = camera.opengl_projection((0.0, 0.0))  # OpenGL samples pixel centres: no shift
        self._camera.znear, self._camera.zfar = float(camera.near), float(camera.far)
        self._scene.set_pose(self._camera_node, np.linalg.inv(camera.opengl_view()))

    def _segment(self, camera: Camera, nodes: dict[Any, tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """(code H x W int32, depth H x W float32) of a segmentation pass drawing only ``nodes``."""
        pr = self._pr
        r = self._gl(camera.width, camera.height)
        self._look(camera)
        seg, depth = r.render(self._scene, pr.RenderFlags.SEG, seg_node_map=nodes)
        seg = seg.astype(np.int32)
        code = seg[..., 0] | (seg[..., 1] << 8) | (seg[..., 2] << 16)
        return code, depth

    def render(self, scene: Scene, camera: Camera, ground: str = "mesh") -> RenderBuffers:
        """RGB, instance ids and metric z-depth of ``scene`` seen by ``camera`` (see the module docstring)."""
        if ground not in ("mesh", "analytic"):
            raise ValueError(f"ground must be 'mesh' or 'analytic', got {ground!r}")
        self._build(scene)
        nodes = {n: _code_colour(_FIRST_OBJECT + i) for i, n in enumerate(self._object_nodes)}
        if self._ground_node is not None:
            nodes[self._ground_node] = _code_colour(_GROUND_CODE)
        code, depth = self._segment(camera, nodes)
        instance = np.where(code >= _FIRST_OBJECT, code - _FIRST_OBJECT, -1).astype(np.int32)
        depth = np.ascontiguousarray(depth, dtype=np.float32)
        depth[code == 0] = 0.0
        rgb = self._colour(scene, camera, depth > 0)
        return RenderBuffers(rgb, instance, depth)

    def _colour(self, scene: Scene, camera: Camera, drawn: np.ndarray) -> np.ndarray:
        pr = self._pr
        k = self.supersample
        big = camera.scaled(k) if k > 1 else camera
        r = self._gl(big.width, big.height)
        self._look(big)
        flags = pr.RenderFlags.RGBA
        if scene.light.shadows and self._light_vp is not None:
            flags |= pr.RenderFlags.SHADOWS_DIRECTIONAL
        rgba, _ = r.render(self._scene, flags)
        if k > 1:
            rgba = cv2.resize(rgba, (camera.width, camera.height), interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(rgba[..., :3])
        alpha = rgba[..., 3]
        # The colour is premultiplied by coverage (the clear colour is transparent black): where a drawn pixel is
        # only partly covered (a silhouette against the background), add the background's share.
        edge = drawn & (alpha < 255)
        if edge.any():
            bg = self._background(scene, camera)
            a = alpha[edge].astype(np.float32)[:, None] / 255.0
            rgb[edge] = np.clip(rgb[edge] + bg[edge] * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)
        return rgb

    def _background(self, scene: Scene, camera: Camera) -> np.ndarray:
        from fakevision.render.api import background_crop

        if len(self._backgrounds) > 16:
            self._backgrounds.clear()
        return bake_background(scene.background, camera.width, camera.height, background_crop(camera),
                               self._backgrounds)

    def render_amodal(self, scene: Scene, camera: Camera) -> np.ndarray:
        """Each object's full silhouette, occluders and ground ignored (n_objects x H x W bool): one segmentation
        pass per object drawing that object alone."""
        self._build(scene)
        out = np.zeros((len(self._object_nodes), camera.height, camera.width), bool)
        for i, node in enumerate(self._object_nodes):
            code, _ = self._segment(camera, {node: _code_colour(_FIRST_OBJECT)})
            out[i] = code == _FIRST_OBJECT
        return out


#: pyrender's shadow lookup (3 x 3 bilinear PCF, 36 texel fetches per fragment: about half the time of a shadowed
#: frame on llvmpipe) and ours: one bilinear lookup (4 fetches), an edge about a texel (1-2 mm) wide.
_PCF_CALL = "float shadow = PCF(shadow_map, textureSize(shadow_map, 0), light_coords.xy, compare);"
_LERP_CALL = "float shadow = texture2DShadowLerp(shadow_map, textureSize(shadow_map, 0), light_coords.xy, compare);"


@functools.lru_cache(maxsize=1)
def _shader_cache(pr: Any) -> type:
    """pyrender's shader cache, with the mesh shader's shadow lookup swapped (``_LERP_CALL``) when compiled."""
    base = pr.shader_program.ShaderProgramCache

    class Cache(base):  # type: ignore[misc, valid-type]
        def get_program(self, *args: Any, **kwargs: Any) -> Any:
            program = super().get_program(*args, **kwargs)
            if not program._in_context() and str(program.fragment_shader).endswith("mesh.frag"):
                load = type(program)._load
                program._load = lambda filename: load(program, filename).replace(_PCF_CALL, _LERP_CALL)
            return program

    return Cache


#: Anisotropic texture filtering (EXT_texture_filter_anisotropic, which llvmpipe has), 1 = off (plain trilinear). The
#: ground is seen at grazing angles, where trilinear filtering picks a mip level from the foreshortened direction and
#: the far ground's pattern fades to its mean colour; 2..8 keep it crisp but cost about 20 ms more per 256² view on
#: llvmpipe (57 -> 78 ms CPU, measured), so it is off unless set here.
ANISOTROPY = 1.0
_GL_TEXTURE_MAX_ANISOTROPY = 0x84FE  # GL 4.6 / EXT_texture_filter_anisotropic (PyOpenGL 3.1.0 lacks the name)


@functools.lru_cache(maxsize=1)
def _texture_class(pr: Any) -> type:
    class AnisotropicTexture(pr.Texture):
        def _add_to_context(self) -> None:
            super()._add_to_context()
            if ANISOTROPY <= 1.0:
                return
            from OpenGL import GL

            try:
                GL.glBindTexture(self.tex_type, self._texid)
                GL.glTexParameterf(self.tex_type, _GL_TEXTURE_MAX_ANISOTROPY, ANISOTROPY)
                GL.glBindTexture(self.tex_type, 0)
            except GL.GLError:  # no anisotropic filtering on this GL: trilinear only
                pass

    return AnisotropicTexture


@functools.lru_cache(maxsize=1)
def _camera_class(pr: Any) -> type:
    class KCamera(pr.Camera):
        """A pyrender camera with an explicit projection matrix (ours, made from K); pyrender reads znear/zfar to
        linearise its depth buffer."""

        P = np.eye(4)

        def get_projection_matrix(self, width: int | None = None, height: int | None = None) -> np.ndarray:
            return self.P

    return KCamera


_BACKEND: PyrenderBackend | None = None


def get_backend() -> PyrenderBackend:
    """The process's shared pyrender backend; ``ImportError`` (one line: what to install) when pyrender or an EGL
    context is not available."""
    global _BACKEND
    if _BACKEND is None:
        b = PyrenderBackend()
        b._gl(16, 16)  # fail here, with the install hint, rather than in the first render
        _BACKEND = b
    return _BACKEND


__all__ = ["INSTALL_HINT", "PyrenderBackend", "get_backend"]
