"""The ``render`` source: procedural 3D scenes, many viewpoints each, every annotation from the renderer.

Sample ``i`` shows scene ``i // views_per_scene`` from viewpoint ``i % views_per_scene``. The scene is re-derived
from (root seed, ``<name>/scene``, scene index) and the viewpoint from the sample's own generator, so each sample
is a pure function of its index however the engine splits the work; a worker that makes consecutive samples
reuses the settled scene instead of rebuilding it (``PyBulletBackend`` caches by scene).

Recipe example::

    sources:
      - type: render
        count: 256
        objects: [3, 6]        # objects per scene
        views_per_scene: 4
        degrade: camera        # sensor noise, blur, JPEG via fakevision.augment's "camera" preset; or none
        renderer: auto         # raycast (exact, numpy) for primitives, pybullet for meshes; or name one
        ground: analytic       # closed-form ground plane + objects-only rasterisation (~3x faster); or mesh
        placement: analytic    # closed-form rest poses (no physics; meshes still use physics); or physics
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from fakevision.core.errors import RecipeError
from fakevision.core.source import Made, RandomStreams, RecipePath, SourceConfig, SourceType
from fakevision.render.api import render_scene
from fakevision.render.backends import get_backend
from fakevision.render.eye import IRIS_PALETTE, EyeOptions, eye_camera, eye_renderer, render_eye, sample_eye
from fakevision.render.meshes import MESH_SUFFIXES, load_vertices
from fakevision.render.placement import needs_physics, rest_analytic
from fakevision.render.sampler import CameraOptions, SceneOptions, categories, sample_camera, sample_scene
from fakevision.render.scene import SHAPES, Scene
from fakevision.render.textures import list_photos

Range = tuple[float, float]


class RenderConfig(SourceConfig):
    """Recipe section of a ``render`` source. Every field but ``count`` has a default.

    >>> RenderConfig(type="render", count=8).views_per_scene
    4
    """

    type: Literal["render"] = "render"
    width: int = Field(256, ge=16, le=4096)
    height: int = Field(256, ge=16, le=4096)
    objects: tuple[int, int] = (3, 6)
    views_per_scene: int = Field(4, ge=1)
    shapes: list[Literal["box", "sphere", "cylinder"]] = Field(default_factory=lambda: list(SHAPES))  # type: ignore[arg-type]
    meshes: list[RecipePath] = Field(default_factory=list, description="OBJ/STL files or folders of them")
    backgrounds: RecipePath | None = Field(None, description="folder of photos shown behind the scene")
    size: Range = (0.06, 0.2)
    fov_deg: Range = (40.0, 60.0)
    distance: Range = (0.9, 1.5)
    elevation_deg: Range = (20.0, 70.0)
    shadows: bool = True
    settle: bool = True
    placement: Literal["analytic", "physics"] = Field(
        "analytic", description="how settle rests the objects: analytic (closed-form rest pose on a face, cap, side "
                                "or bottom point, fakevision.render.placement; scenes with meshes use physics) or "
                                "physics (pybullet drops them)")
    min_pixels: int = Field(1, ge=1, description="instances with fewer visible pixels are dropped")
    amodal_masks: bool = Field(False, description="render each object alone for visible_fraction (1 render each)")
    supersample: int = Field(1, ge=1, le=4, description="anti-alias the RGB by rendering k x k times the pixels")
    degrade: Literal["camera", "none"] = "camera"
    renderer: str = Field("auto", description="which backend renders the views (fakevision.render.backends): auto "
                                              "(raycast for box/sphere/cylinder scenes, pybullet when there are "
                                              "meshes or ground: mesh), raycast (exact closed-form ray casting, numpy), pybullet "
                                              "(TinyRenderer) or pyrender (optional extra, OpenGL via EGL)")
    ground: Literal["mesh", "analytic"] = Field(
        "analytic", description="mesh: TinyRenderer draws the ground; analytic: closed-form ground (homography-warped "
                            "texture, exact plane depth, projected soft shadows), objects rasterised alone, ~3x faster")

    @field_validator("objects")
    @classmethod
    def _objects(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= v[0] <= v[1] <= 50:
            raise ValueError("objects must be [min, max] with 1 <= min <= max <= 50")
        return v

    @model_validator(mode="after")
    def _ranges(self) -> RenderConfig:
        for name in ("size", "fov_deg", "distance", "elevation_deg"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be [lo, hi] with 0 < lo <= hi")
        if self.fov_deg[1] >= 170 or self.elevation_deg[1] > 90:
            raise ValueError("fov_deg must stay below 170 and elevation_deg at most 90")
        from fakevision.render.backends import BACKENDS

        if self.renderer != "auto" and self.renderer not in BACKENDS:
            raise ValueError(f"unknown renderer {self.renderer!r}; known: auto, {', '.join(sorted(BACKENDS))}")
        if self.renderer == "raycast" and self.meshes:
            raise ValueError("renderer raycast draws box/sphere/cylinder only; use renderer: pybullet (or auto) "
                             "for meshes")
        if not self.shapes and not self.meshes:
            raise ValueError("give at least one of shapes or meshes")
        return self


def _resolve_meshes(entries: list[str]) -> tuple[str, ...]:
    """Mesh files, with folders expanded to the mesh files they hold (entries are resolved paths)."""
    out: list[str] = []
    for e in entries:
        p = Path(e)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in MESH_SUFFIXES)
            if not files:
                raise RecipeError(f"meshes: folder {p} has no {'/'.join(MESH_SUFFIXES)} files")
            out += [str(f) for f in files]
        else:
            out.append(str(p))
    for f in out:
        load_vertices(f)  # fail at build time, naming the file, not in a worker
    return tuple(out)


class RenderSource:
    """Makes sample ``index`` of a render data set (see the module docstring).

    >>> from fakevision.core.source import make_sample
    >>> src = build(RenderConfig(type="render", count=4, width=64, height=64, degrade="none"))
    >>> s = make_sample(src, 1)
    >>> s.id, s.provenance.params["scene_index"], s.provenance.params["view"]
    ('render-000001', 0, 1)
    """

    def __init__(self, cfg: RenderConfig, meshes: tuple[str, ...], photos: tuple[str, ...]):
        self.name = cfg.source_name
        self.cfg = cfg
        self.scene_options = SceneOptions(objects=cfg.objects, shapes=tuple(cfg.shapes), meshes=meshes,
                                          size=cfg.size, backgrounds=photos, shadows=cfg.shadows)
        self.camera_options = CameraOptions(fov_deg=cfg.fov_deg, distance=cfg.distance,
                                            elevation_deg=cfg.elevation_deg)
        self.class_ids = {c: i + 1 for i, c in enumerate(categories(self.scene_options))}
        # auto: raycast is exact and ~2x faster, but draws primitives on the closed-form ground only
        self.renderer = cfg.renderer if cfg.renderer != "auto" else (
            "pybullet" if meshes or cfg.ground == "mesh" else "raycast")
        self._degrade = None
        if cfg.degrade != "none":
            from fakevision.augment import get_preset  # lazy: augment is optional for plain rendering

            self._degrade = get_preset(cfg.degrade)
        # ((seed, scene index), settled scene, its JSON text)
        self._scene_cache: tuple[tuple[int, int], Scene, str] | None = None

    def scene(self, scene_index: int, seed: int = 0) -> Scene:
        """The settled scene number ``scene_index`` under root ``seed`` (cached for consecutive views)."""
        return self._scene_and_json(RandomStreams(seed, self.name, 0), scene_index)[0]

    def _scene_and_json(self, streams: RandomStreams, scene_index: int) -> tuple[Scene, str]:
        key = (streams.seed, scene_index)
        if self._scene_cache is not None and self._scene_cache[0] == key:
            return self._scene_cache[1], self._scene_cache[2]
        rng = streams.shared("scene", scene_index)  # every view of a scene sees the same scene
        scene = sample_scene(rng, self.scene_options)
        if self.cfg.settle:
            if self.cfg.placement == "analytic" and not needs_physics(scene):
                scene = rest_analytic(scene)
            else:
                scene = get_backend().settle(scene)
        # Provenance JSON made once per scene (dataclasses.asdict costs ~1 ms), parsed afresh for every sample so
        # no two samples share a mutable dict; the text round-trips floats exactly.
        self._scene_cache = (key, scene, json.dumps(scene.to_json()))
        return scene, self._scene_cache[2]

    def make(self, index: int, streams: RandomStreams) -> Made:
        rng = streams.rng
        scene_index, view = divmod(index, self.cfg.views_per_scene)
        scene, scene_json = self._scene_and_json(streams, scene_index)
        camera = sample_camera(rng, self.cfg.width, self.cfg.height, self.camera_options)
        params = {
            "scene_index": scene_index,
            "view": view,
            "camera": camera.to_json(),
            "scene": json.loads(scene_json),
            "degrade": self.cfg.degrade,
            "ground": self.cfg.ground,
            "placement": self.cfg.placement,
            "renderer": self.renderer,
        }
        sample = render_scene(scene, camera, class_ids=self.class_ids, settle=False,
                              min_pixels=self.cfg.min_pixels, amodal_masks=self.cfg.amodal_masks,
                              supersample=self.cfg.supersample, ground=self.cfg.ground, renderer=self.renderer)
        sample.annotations.extras.update({"scene_index": scene_index, "view": view})
        if self._degrade is not None:
            sample = self._degrade(sample, rng)
        return Made.of(sample, params)


def build(cfg: RenderConfig) -> RenderSource:
    """Builder registered for ``type: render`` (paths already resolved): expands mesh folders, lists photos, and
    opens the chosen backend (a missing optional one is a recipe error here, not in a worker)."""
    meshes = _resolve_meshes(cfg.meshes)
    photos: tuple[str, ...] = ()
    if cfg.backgrounds:
        photos = tuple(str(p) for p in list_photos(Path(cfg.backgrounds)))
    src = RenderSource(cfg, meshes, photos)
    try:  # fail here, in one line, not in a worker: an optional backend may not be installed
        get_backend(src.renderer)
    except ImportError as e:
        raise RecipeError(f"{cfg.source_name}: renderer {src.renderer}: {e}") from None
    return src


RENDER = SourceType(RenderConfig, build,
                    "procedural 3D scenes: instance masks, boxes, depth, normals, 3D keypoints, camera noise")


class RenderEyeConfig(SourceConfig):
    """Recipe section of a ``render_eye`` source: procedural eyes with perfect iris and pupil masks.

    >>> RenderEyeConfig(type="render_eye", count=8).appearance
    'visible'
    """

    type: Literal["render_eye"] = "render_eye"
    width: int = Field(320, ge=32, le=4096)
    height: int = Field(240, ge=32, le=4096)
    iris_diameter_px: Range = (70.0, 130.0)
    pupil_fraction: Range = (0.2, 0.6)
    gaze_deg: Range = (-20.0, 20.0)
    opening: Range = (0.35, 1.0)
    colours: list[Literal["brown", "dark_brown", "hazel", "green", "blue", "grey"]] = Field(
        default_factory=lambda: list(IRIS_PALETTE))  # type: ignore[arg-type]  # (the palette's keys are the Literal)
    appearance: Literal["visible", "nir"] = "visible"
    min_pixels: int = Field(1, ge=1)
    degrade: Literal["camera", "iris-phone", "none"] = "camera"
    renderer: str = Field("auto", description="which backend draws the eye's mesh bodies: auto (= raycast), raycast "
                                              "(numpy rasteriser, normals from the meshes, ~4.6x the eyes per "
                                              "CPU-second) or pybullet (TinyRenderer, normals from the depth); both "
                                              "give the same masks and keypoints, RGB to a grey level, depth to 3e-6")

    @model_validator(mode="after")
    def _ranges(self) -> RenderEyeConfig:
        for name in ("iris_diameter_px", "pupil_fraction", "opening"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be [lo, hi] with 0 < lo <= hi")
        if self.pupil_fraction[1] >= 0.9 or self.opening[1] > 1.5 or not self.colours:
            raise ValueError("pupil_fraction must stay below 0.9, opening at most 1.5, colours non-empty")
        if self.gaze_deg[0] > self.gaze_deg[1] or max(map(abs, self.gaze_deg)) > 45:
            raise ValueError("gaze_deg must be [lo, hi] within [-45, 45]")
        from fakevision.render.backends import BACKENDS

        if self.renderer != "auto" and self.renderer not in BACKENDS:
            raise ValueError(f"unknown renderer {self.renderer!r}; known: auto, {', '.join(sorted(BACKENDS))}")
        return self


class RenderEyeSource:
    """Makes sample ``index`` of a rendered eye set: eye and camera drawn from the sample's generator, the eye's
    bodies drawn by ``renderer`` (recorded in provenance), ground truth by ``eye.eye_sample``.

    Which renderer ``auto`` picks, and why: the raycast backend's rasteriser (``backends.raster``) samples the
    same pixel centres as TinyRenderer with the same texture lookup and light model. Measured against pybullet on
    the same 80 eyes (320x240, 40 visible and 40 NIR, ``degrade: none``): iris mask IoU >= 0.9999 (pupil 1.0),
    label maps equal at >= 99.999 % of the pixels of every eye, keypoints, visibility and boxes identical, depth
    within 3e-6 relative, RGB different at 1.6 pixels per eye on average (at most 6: one grey level, or a pixel
    whose centre sits on an edge); every ``iris_stats`` statistic, the look tuned against MMU, within 0.006 grey
    levels per eye. Its normals are the meshes' interpolated normals instead of differences of the depth (which
    leave each body's one-pixel rim blank; elsewhere median cosine 1.000, 1st percentile >= 0.997). It needs no
    pybullet and makes about 4.6x the eyes per CPU-second (``benchmarks/render.py --modes eye``). So ``auto`` is
    ``raycast``; ``renderer: pybullet`` makes the TinyRenderer images as before. Tests pin the agreement
    (tests/render/test_eye.py).

    >>> src = build_eye(RenderEyeConfig(type="render_eye", count=2, width=96, height=72, degrade="none"))
    >>> src.make(0, RandomStreams(0, "render_eye", 0)).annotations.label_names[3]
    'iris'
    """

    def __init__(self, cfg: RenderEyeConfig):
        self.name = cfg.source_name
        self.cfg = cfg
        self.options = EyeOptions(pupil_fraction=cfg.pupil_fraction, gaze_deg=cfg.gaze_deg, opening=cfg.opening,
                                  iris_diameter_px=cfg.iris_diameter_px, colours=tuple(cfg.colours),
                                  appearance=cfg.appearance)
        self.renderer = eye_renderer(cfg.renderer)
        self._degrade = None
        if cfg.degrade != "none":
            from fakevision.augment import get_preset

            self._degrade = get_preset(cfg.degrade)

    def make(self, index: int, streams: RandomStreams) -> Made:
        rng = streams.rng
        spec = sample_eye(rng, self.options)
        camera = eye_camera(rng, self.cfg.width, self.cfg.height, self.options, spec)
        params = {"eye": spec.to_json(), "camera": camera.to_json(), "degrade": self.cfg.degrade,
                  "renderer": self.renderer}
        sample = render_eye(spec, camera, renderer=self.renderer, min_pixels=self.cfg.min_pixels)
        if self._degrade is not None:
            sample = self._degrade(sample, rng)
            if self.cfg.appearance == "nir":  # a monochrome sensor: its noise is the same in every channel
                grey = np.rint(sample.image.astype(np.float32).mean(axis=2, keepdims=True)).astype(np.uint8)
                sample = sample.replace(image=np.repeat(grey, 3, axis=2))
        return Made.of(sample, params)


def build_eye(cfg: RenderEyeConfig) -> RenderEyeSource:
    """Builder registered for ``type: render_eye``: a renderer that is not installed or cannot draw mesh bodies is
    a recipe error here, in one line, not in a worker."""
    src = RenderEyeSource(cfg)
    try:
        backend = get_backend(src.renderer)
    except ImportError as e:
        raise RecipeError(f"{cfg.source_name}: renderer {src.renderer}: {e}") from None
    if not hasattr(backend, "render_bodies"):
        raise RecipeError(f"{cfg.source_name}: renderer {src.renderer} cannot draw the eye's mesh bodies; use raycast "
                          "or pybullet")
    return src


RENDER_EYE = SourceType(RenderEyeConfig, build_eye,
                        "procedural eyes: iris and pupil masks, boundary keypoints, gaze/pupil/eyelid labels")
