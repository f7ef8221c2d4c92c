"""The scene sampler: draws a random scene spec and random cameras from a seeded generator.

It knows nothing of any renderer (the Kubric split): its output is plain data (``Scene``, ``Camera``), so the same
draws can feed pybullet today and a path tracer later. Objects are scattered without overlap a little above the
ground, in random orientations; the simulator then drops them so they rest plausibly (``settle``), or
``fakevision.render.placement.rest_analytic`` puts them at rest in closed form.
"""

from __future__ import annotations

import colorsys
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fakevision.render.camera import Camera, intrinsics, look_at
from fakevision.render.meshes import load_vertices
from fakevision.render.scene import (
    SHAPES,
    Background,
    Ground,
    Light,
    ObjectSpec,
    Scene,
    Texture,
    random_quaternion,
)

TEXTURE_KINDS = ("plain", "checker", "stripes", "noise", "dots")


@dataclass(frozen=True)
class SceneOptions:
    """Ranges the scene sampler draws from. ``meshes`` are OBJ/STL paths; each becomes a category named after
    its file stem, drawn as often as each primitive. ``backgrounds`` are photo paths (else procedural).

    >>> SceneOptions(objects=(2, 2)).objects
    (2, 2)
    """

    objects: tuple[int, int] = (3, 6)
    shapes: tuple[str, ...] = SHAPES
    meshes: tuple[str, ...] = ()
    size: tuple[float, float] = (0.06, 0.2)
    spread: float = 0.35
    textures: tuple[str, ...] = TEXTURE_KINDS
    backgrounds: tuple[str, ...] = ()
    shadows: bool = True
    ground_size: float = 6.0


@dataclass(frozen=True)
class CameraOptions:
    """Ranges for random viewpoints around the scene centre: horizontal field of view, distance to the look-at
    point, elevation above the ground, roll about the optical axis, and how far the look-at point wanders."""

    fov_deg: tuple[float, float] = (40.0, 60.0)
    distance: tuple[float, float] = (0.9, 1.5)
    elevation_deg: tuple[float, float] = (20.0, 70.0)
    roll_deg: tuple[float, float] = (-10.0, 10.0)
    target_jitter: float = 0.08
    near: float = 0.05
    far: float = 20.0


def mesh_category(path: str) -> str:
    """Category name of a mesh file: its stem (``models/mug.obj`` -> ``mug``)."""
    return Path(path).stem


def categories(options: SceneOptions) -> list[str]:
    """Every category the sampler can produce, in a fixed order (class id = position + 1)."""
    return list(options.shapes) + [mesh_category(m) for m in options.meshes]


def _colour(rng: np.random.Generator, sat: tuple[float, float] = (0.3, 1.0),
            val: tuple[float, float] = (0.3, 1.0)) -> tuple[float, float, float]:
    h = rng.random()
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))
    return (round(r, 6), round(g, 6), round(b, 6))


OBJECT_CELLS = (2, 3, 4, 6, 8)
GROUND_CELLS = (8, 12, 16, 24, 32)
VARIANTS = 4


def _texture(rng: np.random.Generator, kinds: tuple[str, ...], cells: tuple[int, ...] = OBJECT_CELLS,
             sat: tuple[float, float] = (0.3, 1.0), val: tuple[float, float] = (0.3, 1.0)) -> Texture:
    kind = kinds[int(rng.integers(len(kinds)))]
    return Texture(kind, _colour(rng, sat, val), int(cells[int(rng.integers(len(cells)))]),  # type: ignore[arg-type]
                   int(rng.integers(VARIANTS)))


def sample_object(rng: np.random.Generator, options: SceneOptions) -> ObjectSpec:
    """One random object (pose filled in later by ``sample_scene``)."""
    kinds = list(options.shapes) + list(options.meshes)
    pick = kinds[int(rng.integers(len(kinds)))]
    lo, hi = options.size
    tex = _texture(rng, options.textures)
    if pick == "box":
        ext = tuple(float(v) for v in rng.uniform(lo, hi, 3))
        return ObjectSpec("box", ext, (0.0, 0.0, 0.0), texture=tex)  # type: ignore[arg-type]
    if pick == "sphere":
        d = float(rng.uniform(lo, hi))
        return ObjectSpec("sphere", (d, d, d), (0.0, 0.0, 0.0), texture=tex)
    if pick == "cylinder":
        d, h = (float(v) for v in rng.uniform(lo, hi, 2))
        return ObjectSpec("cylinder", (d, d, h), (0.0, 0.0, 0.0), texture=tex)
    # A mesh keeps its aspect ratio: its longest side gets the drawn size.
    v = load_vertices(pick)
    ext = v.max(axis=0) - v.min(axis=0)
    ext = ext / ext.max() * float(rng.uniform(lo, hi) * 1.5)
    return ObjectSpec("mesh", tuple(float(e) for e in ext), (0.0, 0.0, 0.0), texture=tex,  # type: ignore[arg-type]
                      category=mesh_category(pick), mesh_path=pick)


def sample_scene(rng: np.random.Generator, options: SceneOptions | None = None) -> Scene:
    """A random scene: objects scattered without overlap over a disc of radius ``spread``, each a little above
    its resting height in a random orientation (``settle`` drops them), a textured ground, one light, a background.

    >>> s = sample_scene(np.random.default_rng(0), SceneOptions(objects=(4, 4)))
    >>> len(s.objects), s.settled
    (4, False)
    """
    o = options or SceneOptions()
    n = int(rng.integers(o.objects[0], o.objects[1] + 1))
    objects: list[ObjectSpec] = []
    placed: list[tuple[float, float, float]] = []  # x, y, bounding radius
    for _ in range(n):
        obj = sample_object(rng, o)
        r = float(np.linalg.norm(obj.extents) / 2)
        for _attempt in range(50):
            xy = rng.uniform(-o.spread, o.spread, 2)
            if np.hypot(*xy) <= o.spread and all(np.hypot(xy[0] - x, xy[1] - y) > r + rr for x, y, rr in placed):
                break
        else:
            continue  # no room left: fewer objects in this scene
        placed.append((float(xy[0]), float(xy[1]), r))
        z = r + float(rng.uniform(0.0, 0.05))
        objects.append(dataclasses.replace(obj, position=(float(xy[0]), float(xy[1]), z),
                                           orientation=random_quaternion(rng)))
    ground = Ground(_texture(rng, ("checker", "stripes", "noise", "dots"), GROUND_CELLS, (0.0, 0.5), (0.4, 1.0)),
                    size=o.ground_size)
    # TinyRenderer's shadow maps: no shadows at all below ~50 degrees of light elevation and striped "shadow acne"
    # over the whole ground between ~50 and ~68 (measured), so shadowed scenes get a high light.
    lo, hi = (70.0, 88.0) if o.shadows else (30.0, 80.0)
    az, el = rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(lo, hi))
    light = Light(direction=(float(np.cos(az) * np.cos(el)), float(np.sin(az) * np.cos(el)), float(np.sin(el))),
                  colour=(1.0, 1.0, 1.0), ambient=float(rng.uniform(0.3, 0.6)), diffuse=float(rng.uniform(0.4, 0.8)),
                  specular=float(rng.uniform(0.05, 0.5)), shadows=o.shadows)
    if o.backgrounds:
        bg = Background("photo", path=o.backgrounds[int(rng.integers(len(o.backgrounds)))])
    else:
        kind = ("gradient", "noise")[int(rng.integers(2))]
        bg = Background(kind, _colour(rng), _colour(rng), seed=int(rng.integers(1 << 31)))  # type: ignore[arg-type]
    return Scene(objects=tuple(objects), ground=ground, light=light, background=bg)


def sample_camera(rng: np.random.Generator, width: int, height: int, options: CameraOptions | None = None,
                  target: tuple[float, float, float] = (0.0, 0.0, 0.05)) -> Camera:
    """A random viewpoint looking at ``target`` (jittered) from a random azimuth, elevation and distance.

    >>> cam = sample_camera(np.random.default_rng(0), 256, 256)
    >>> float(cam.K[0, 2]), float(cam.K[1, 2]), bool(cam.position[2] > 0)
    (128.0, 128.0, True)
    """
    o = options or CameraOptions()
    fov = np.deg2rad(rng.uniform(*o.fov_deg))
    f = width / 2 / np.tan(fov / 2)
    az = rng.uniform(0, 2 * np.pi)
    el = np.deg2rad(rng.uniform(*o.elevation_deg))
    dist = rng.uniform(*o.distance)
    tgt = np.asarray(target, dtype=np.float64) + np.append(rng.uniform(-o.target_jitter, o.target_jitter, 2), 0.0)
    eye = tgt + dist * np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])
    roll = np.deg2rad(rng.uniform(*o.roll_deg))
    return Camera(intrinsics(f, f, width / 2, height / 2), look_at(eye, tgt, roll=roll), width, height, o.near, o.far)
