"""Renderer backends. Each consumes a ``Scene`` and a ``Camera`` and returns ``RenderBuffers``; the scene spec and
the ground-truth step are shared, so a higher-quality backend (e.g. Cycles via bpy, an optional extra) only has to
produce the same three buffers with the same conventions."""

from fakevision.render.backends.pybullet import PyBulletBackend, RenderBuffers, get_backend

__all__ = ["PyBulletBackend", "RenderBuffers", "get_backend"]
