"""Renderer backends behind one contract (``base``): pybullet (TinyRenderer, and the physics), raycast (closed-form,
numpy), pyrender (optional, OpenGL via EGL). See ``base`` for the buffers every backend returns."""

from fakevision.render.backends.base import BACKENDS, RenderBackend, RenderBuffers, get_backend, register_backend

__all__ = ["BACKENDS", "RenderBackend", "RenderBuffers", "get_backend", "register_backend"]
