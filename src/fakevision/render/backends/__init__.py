"""Renderer backends. Each consumes a ``Scene`` and a ``Camera`` and returns ``RenderBuffers``; the scene spec and
the ground-truth step are shared, so another backend only has to produce the same three buffers (RGB, instance
index, metric z-depth) with the same conventions (pixel (i, j) sampled at its centre, see ``Camera``).

Backends are looked up by name (``get_backend("pybullet")``) so that a recipe can pick one (``renderer:``) and an
optional one is imported only when asked for. Physics settling always goes through pybullet, whatever renders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from fakevision.render.backends.pybullet import PyBulletBackend, RenderBuffers
from fakevision.render.backends.pybullet import get_backend as _pybullet_backend


class RenderBackend(Protocol):
    """What ``render_view`` needs from a backend."""

    def render(self, scene: Any, camera: Any, ground: str = "mesh") -> RenderBuffers: ...

    def render_amodal(self, scene: Any, camera: Any) -> np.ndarray: ...


def _lazy(module: str) -> Callable[[], RenderBackend]:
    """Factory for a backend in ``fakevision.render.backends.<module>`` (its ``get_backend``), imported on use."""
    def factory() -> RenderBackend:
        import importlib

        return importlib.import_module(f"fakevision.render.backends.{module}").get_backend()

    return factory


# name -> factory returning the process's shared instance of that backend (imported lazily).
BACKENDS: dict[str, Callable[[], RenderBackend]] = {
    "pybullet": _pybullet_backend,
    "raycast": _lazy("raycast"),  # closed-form ray casting of the primitive shapes (numpy only)
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


__all__ = ["BACKENDS", "PyBulletBackend", "RenderBackend", "RenderBuffers", "get_backend", "register_backend"]
