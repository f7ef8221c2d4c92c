"""The scene spec: plain data that says *what* is in a scene, and nothing about how it is rendered.

As in Kubric, a sampler fills these dataclasses from a seeded generator, a simulator may move the objects (physics
settling returns a new spec with the rest poses), and any backend renders the spec. Because the spec is plain data
it goes into provenance as JSON, and the same spec always gives the same image.

Units: metres and radians; world z is up; the ground is the plane z = 0. Orientation is a unit quaternion in
pybullet's (x, y, z, w) order. ``extents`` is the object's full size along its own x, y, z axes for every shape:
a box's side lengths, a sphere's diameter three times, a cylinder's (diameter, diameter, height) with its axis
along z, a mesh's bounding-box size after scaling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

Shape = Literal["box", "sphere", "cylinder", "mesh"]
SHAPES: tuple[str, ...] = ("box", "sphere", "cylinder")
TextureKind = Literal["plain", "checker", "stripes", "noise", "dots"]


@dataclass(frozen=True)
class Texture:
    """A procedural texture: a grey ``kind`` pattern (``cells`` repeats across the texture; ``variant`` picks one
    of the noise layouts) tinted by ``colour`` (RGB in [0, 1]); the pattern's dark parts are 45 % of the tint.

    Why a bank of grey patterns tinted per object rather than one baked image per object: pybullet keeps every
    texture file it has loaded in memory for the life of the process (keyed by file name; neither
    ``resetSimulation`` nor ``disconnect`` frees them), so unique textures leak about 65 kB each, gigabytes over a
    long run. Patterns drawn from a bounded set and tinted with ``rgbaColor`` (which TinyRenderer multiplies in)
    keep memory flat; the sampler draws ``cells`` and ``variant`` from small fixed sets.

    >>> Texture("checker", (1.0, 0.0, 0.0), cells=4).kind
    'checker'
    """

    kind: TextureKind = "plain"
    colour: tuple[float, float, float] = (0.7, 0.7, 0.7)
    cells: int = 4
    variant: int = 0


@dataclass(frozen=True)
class ObjectSpec:
    """One rigid object. ``category`` is the class name written to annotations (the shape, or a mesh's name).

    >>> ObjectSpec("box", (0.1, 0.1, 0.1), (0.0, 0.0, 0.05)).category
    'box'
    """

    shape: Shape
    extents: tuple[float, float, float]
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    texture: Texture = field(default_factory=Texture)
    category: str = ""
    mesh_path: str | None = None
    mass: float = 0.2

    def __post_init__(self) -> None:
        if not self.category:
            object.__setattr__(self, "category", self.shape)
        if self.shape == "mesh" and not self.mesh_path:
            raise ValueError("a mesh object needs mesh_path")
        if min(self.extents) <= 0:
            raise ValueError(f"object extents must be positive, got {self.extents}")

    def rotation(self) -> np.ndarray:
        """3x3 object->world rotation."""
        return quat_to_matrix(self.orientation)

    def to_world(self, points: np.ndarray) -> np.ndarray:
        """Object-frame points (N x 3) -> world."""
        return np.asarray(points, dtype=np.float64) @ self.rotation().T + np.asarray(self.position)

    def to_object(self, points: np.ndarray) -> np.ndarray:
        """World points (... x 3) -> object frame."""
        return (np.asarray(points, dtype=np.float64) - np.asarray(self.position)) @ self.rotation()


@dataclass(frozen=True)
class Light:
    """One directional light (TinyRenderer has one): ``direction`` points *towards* the light; Phong coefficients;
    ``shadows`` casts shadow maps (about 2x the render time)."""

    direction: tuple[float, float, float] = (0.4, -0.3, 1.0)
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.5
    diffuse: float = 0.6
    specular: float = 0.2
    shadows: bool = True


@dataclass(frozen=True)
class Ground:
    """The textured ground plane z = 0, a square of side ``size`` (outside it the background shows)."""

    texture: Texture = field(default_factory=lambda: Texture("checker", (0.6, 0.6, 0.6), cells=16))
    size: float = 6.0
    visible: bool = True


@dataclass(frozen=True)
class Background:
    """What shows where no surface is drawn: a procedural ``gradient``/``noise`` image from ``seed``, or a
    ``photo`` (``path``) cropped by the renderer per view. Background pixels have depth 0 and no instance."""

    kind: Literal["gradient", "noise", "photo"] = "gradient"
    colour: tuple[float, float, float] = (0.55, 0.65, 0.8)
    colour2: tuple[float, float, float] = (0.9, 0.9, 0.95)
    seed: int = 0
    path: str | None = None


@dataclass(frozen=True)
class Scene:
    """Objects on a ground plane under one light, in front of a background.

    >>> s = Scene(objects=(ObjectSpec("sphere", (0.1,) * 3, (0.0, 0.0, 0.05)),))
    >>> [o.category for o in s.objects], s.settled
    (['sphere'], False)
    """

    objects: tuple[ObjectSpec, ...] = ()
    ground: Ground = field(default_factory=Ground)
    light: Light = field(default_factory=Light)
    background: Background = field(default_factory=Background)
    settled: bool = False

    def replace(self, **changes: Any) -> Scene:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (floats rounded to 6 digits) for provenance; equal scenes give equal JSON."""
        return _round(dataclasses.asdict(self))


@dataclass(frozen=True, eq=False)
class MeshBody:
    """A static textured triangle mesh for scenes that are not made of primitives (the eye): ``vertices`` (N x 3,
    body frame), ``indices`` (M x 3, counter-clockwise seen from outside), ``uvs`` (N x 2), ``normals`` (N x 3),
    a texture made by ``texture_fn`` (H x W x 3 uint8) and cached under ``texture_key`` (keep the set of keys
    bounded: see ``Texture``), multiplied by ``tint``; vertices scaled by ``scale``, placed at ``position`` with
    ``orientation`` (x, y, z, w). Reuse identical vertex arrays with different scales where you can: pybullet keeps
    every distinct mesh for the life of the process (see ``primitives``). ``fingerprint`` must change whenever
    any of these do (backends cache built worlds by it)."""

    name: str
    vertices: ArrayLike
    indices: ArrayLike
    uvs: ArrayLike
    normals: ArrayLike
    texture_key: str
    texture_fn: Callable[[], np.ndarray]
    fingerprint: str
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)


def _round(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return round(float(x), 6)
    if isinstance(x, np.integer):
        return int(x)
    return x


def quat_to_matrix(q: tuple[float, float, float, float] | np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) -> 3x3 rotation matrix.

    >>> np.round(quat_to_matrix((0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4))) @ [1, 0, 0], 6).tolist()
    [0.0, 1.0, 0.0]
    """
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def random_quaternion(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A uniformly random rotation (Shoemake's method), (x, y, z, w)."""
    u1, u2, u3 = rng.random(3)
    a, b = np.sqrt(1 - u1), np.sqrt(u1)
    q = (a * np.sin(2 * np.pi * u2), a * np.cos(2 * np.pi * u2), b * np.sin(2 * np.pi * u3), b * np.cos(2 * np.pi * u3))
    return tuple(float(v) for v in q)  # type: ignore[return-value]
