"""Rendering as a data source: procedural 3D scenes -> renderer backend -> ground-truth buffers -> camera
degradation (design.md §4.5). Scene specs are plain data (``scene``), drawn by a sampler that knows no renderer
(``sampler``); backends render them (``backends``, pybullet's TinyRenderer by default); ``groundtruth`` turns the
buffers into masks, boxes, depth, normals and occlusion-tested keypoints; ``source`` registers ``type: render``.

>>> import numpy as np
>>> from fakevision.render import render_scene, sample_scene, sample_camera
>>> rng = np.random.default_rng(7)
>>> sample = render_scene(sample_scene(rng), sample_camera(rng, 96, 96))
>>> sample.image.shape, sample.annotations.num_instances > 0
((96, 96, 3), True)
"""

from fakevision.render.api import render_ground_truth, render_scene, render_view, to_annotations
from fakevision.render.backends import RenderBuffers, get_backend
from fakevision.render.backends.pybullet import PyBulletBackend
from fakevision.render.camera import Camera, intrinsics, look_at
from fakevision.render.groundtruth import GroundTruth, compute_ground_truth
from fakevision.render.sampler import CameraOptions, SceneOptions, sample_camera, sample_scene
from fakevision.render.scene import Background, Ground, Light, ObjectSpec, Scene, Texture

__all__ = [
    "Background",
    "Camera",
    "CameraOptions",
    "Ground",
    "GroundTruth",
    "Light",
    "ObjectSpec",
    "PyBulletBackend",
    "RenderBuffers",
    "Scene",
    "SceneOptions",
    "Texture",
    "compute_ground_truth",
    "get_backend",
    "intrinsics",
    "look_at",
    "render_ground_truth",
    "render_scene",
    "render_view",
    "sample_camera",
    "sample_scene",
    "to_annotations",
]
