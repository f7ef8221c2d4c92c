"""The renderer contract every backend implements, and the registry that finds backends by name.

A backend consumes plain scene data — a ``Scene`` (objects on a ground) or a list of ``MeshBody`` (e.g. the
procedural eye) — and a ``Camera``, and returns ``RenderBuffers``: RGB, the index of the object or body seen at each
pixel, and metric z-depth, with the same conventions everywhere (pixel (i, j) sampled at its centre, see
``Camera``). Ground truth (masks, boxes, keypoints, normals, label maps) is computed from those buffers and the
scene by rules that know nothing of the backend (``groundtruth``, ``eye``), as in Kubric: scene -> render -> write.

Backends are looked up by name (``get_backend("raycast")``) so that a recipe can pick one (``renderer:``) and an
optional one is imported only when asked for. Physics settling always goes through pybullet, whatever renders.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass
class RenderBuffers:
    """What a backend returns for one camera: ``rgb`` (H x W x 3 uint8, undrawn pixels undefined), ``instance``
    (H x W int32: index into ``scene.objects``, -1 for ground or nothing), ``depth`` (H x W float32 metric
    z-depth along the optical axis, 0 where nothing is drawn)."""

    rgb: np.ndarray
    instance: np.ndarray
    depth: np.ndarray

    @property
    def drawn(self) -> np.ndarray:
        """Pixels that show some surface (object or ground)."""
        return self.depth > 0


class RenderBackend(Protocol):
    """What the render pipeline needs from a backend: a scene of objects on a ground (``render``, and each object
    alone for amodal masks: ``render_amodal``); a backend that can also draw arbitrary mesh bodies (``MeshBody``:
    the procedural eye) has ``render_bodies(bodies, camera, light)``."""

    name: str

    def render(self, scene: Any, camera: Any, ground: str = "mesh") -> RenderBuffers: ...

    def render_amodal(self, scene: Any, camera: Any) -> np.ndarray: ...


def _lazy(module: str) -> Callable[[], RenderBackend]:
    """Factory for a backend in ``fakevision.render.backends.<module>`` (its ``get_backend``), imported on use."""
    def factory() -> RenderBackend:
        return importlib.import_module(f"fakevision.render.backends.{module}").get_backend()

    return factory


# name -> factory returning the process's shared instance of that backend (imported lazily).
BACKENDS: dict[str, Callable[[], RenderBackend]] = {
    "pybullet": _lazy("pybullet"),  # TinyRenderer; also the physics
    "raycast": _lazy("raycast"),  # numpy only: closed-form ray casting of the primitives; rasterised mesh bodies
    "pyrender": _lazy("pyrender_egl"),  # optional extra: OpenGL PBR via pyrender + EGL
}


def register_backend(name: str, factory: Callable[[], RenderBackend]) -> None:
    """Make a backend available under ``name`` (``factory`` returns a per-process shared instance)."""
    BACKENDS[name] = factory


def get_backend(name: str = "pybullet") -> Any:
    """The process's shared backend called ``name`` (created on first use). Unknown names raise ``ValueError``
    listing the known ones; an optional backend whose extra is not installed raises ``ImportError`` saying which
    extra to install."""
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown renderer {name!r}; known: {', '.join(sorted(BACKENDS))}") from None
    return factory()
