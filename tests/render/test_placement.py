"""Closed-form rest poses (``placement: analytic``) and the exact sphere amodal box."""

from __future__ import annotations

import numpy as np
import pytest

from fakevision.render.camera import Camera, intrinsics, look_at
from fakevision.render.groundtruth import amodal_box, sphere_box
from fakevision.render.placement import needs_physics, rest_analytic, rest_pose
from fakevision.render.sampler import SceneOptions, sample_scene
from fakevision.render.scene import ObjectSpec
from fakevision.render.shapes import _fibonacci_sphere


def _lowest_z(obj: ObjectSpec) -> float:
    """Exact lowest world z of a primitive."""
    R = obj.rotation()
    h = np.asarray(obj.extents) / 2
    cz = obj.position[2]
    if obj.shape == "sphere":
        return cz - h[0]
    if obj.shape == "box":
        return cz - float(np.abs(R[2]) @ h)
    a_z = abs(R[2, 2])  # cylinder: axis tilt, rim radius
    return cz - h[2] * a_z - h[0] * np.sqrt(max(0.0, 1 - a_z * a_z))


def _inside(obj: ObjectSpec, world: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    p = obj.to_object(world)
    h = np.asarray(obj.extents) / 2
    if obj.shape == "sphere":
        return np.linalg.norm(p, axis=1) < h[0] - eps
    if obj.shape == "box":
        return np.all(np.abs(p) < h - eps, axis=1)
    return (np.hypot(p[:, 0], p[:, 1]) < h[0] - eps) & (np.abs(p[:, 2]) < h[2] - eps)


def _surface(obj: ObjectSpec, n: int = 4000) -> np.ndarray:
    h = np.asarray(obj.extents) / 2
    u = _fibonacci_sphere(n)
    if obj.shape == "sphere":
        return obj.to_world(u * h)
    if obj.shape == "box":
        return obj.to_world(u / np.abs(u).max(axis=1, keepdims=True) * h)
    radial = np.hypot(u[:, 0], u[:, 1])
    scale = 1 / np.maximum(radial, np.abs(u[:, 2]) + 1e-12)
    return obj.to_world(u * scale[:, None] * h)


@pytest.mark.parametrize("seed", range(25))
def test_rested_objects_touch_the_ground_and_do_not_interpenetrate(seed: int) -> None:
    scene = rest_analytic(sample_scene(np.random.default_rng(seed), SceneOptions(objects=(3, 8))))
    assert scene.settled
    for obj in scene.objects:
        assert abs(_lowest_z(obj)) <= 1e-6, obj
        R = obj.rotation()
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-9)
        if obj.shape == "box":  # standing on a face: one object axis exactly vertical
            assert np.isclose(np.abs(R[2]).max(), 1.0, atol=1e-9)
        if obj.shape == "cylinder":  # on a cap (axis vertical) or on its side (axis horizontal)
            assert np.isclose(abs(R[2, 2]), 1.0, atol=1e-9) or abs(R[2, 2]) <= 1e-9
    for i, a in enumerate(scene.objects):
        for b in scene.objects[i + 1:]:
            assert not _inside(b, _surface(a)).any() and not _inside(a, _surface(b)).any()


def test_rest_pose_is_pure_and_keeps_xy() -> None:
    raw = sample_scene(np.random.default_rng(3))
    a, b = rest_analytic(raw), rest_analytic(raw)
    assert a == b
    for before, after in zip(raw.objects, a.objects, strict=True):
        assert after.position[:2] == before.position[:2]


def test_cylinder_rests_on_cap_when_nearly_upright_and_on_side_when_tilted() -> None:
    def tilted(deg: float) -> ObjectSpec:
        t = np.deg2rad(deg) / 2
        return ObjectSpec("cylinder", (0.1, 0.1, 0.2), (0.0, 0.0, 1.0), (float(np.sin(t)), 0.0, 0.0, float(np.cos(t))))

    # tipping angle atan(r / half height) = atan(0.05 / 0.1) = 26.6 degrees
    assert np.isclose(rest_pose(tilted(20)).position[2], 0.1)
    assert np.isclose(rest_pose(tilted(35)).position[2], 0.05)
    assert np.isclose(rest_pose(tilted(170)).position[2], 0.1)  # upside down: on the other cap


def test_meshes_need_physics() -> None:
    mesh = ObjectSpec("mesh", (0.1, 0.1, 0.1), (0.0, 0.0, 0.1), mesh_path="x.obj")
    assert needs_physics(sample_scene(np.random.default_rng(0)).replace(objects=(mesh,)))
    assert not needs_physics(sample_scene(np.random.default_rng(0)))
    with pytest.raises(ValueError):
        rest_pose(mesh)


def test_sphere_box_is_the_bound_of_the_projected_sphere() -> None:
    rng = np.random.default_rng(0)
    pts = _fibonacci_sphere(100_000)
    for _ in range(30):
        cam = Camera(intrinsics(200, 230, 128, 120), look_at(rng.normal(size=3) * 0.3 + [0, -1.2, 0.8], np.zeros(3)),
                     256, 256)
        c, r = rng.normal(size=3) * 0.3, float(rng.uniform(0.03, 0.2))
        box = sphere_box(cam.to_camera(c)[0], r, cam)
        uv, _ = cam.project(c + r * pts)
        dense = [uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()]
        assert box is not None and np.abs(box - dense).max() < 0.01
        clipped, _ = amodal_box(ObjectSpec("sphere", (2 * r,) * 3, tuple(c)), cam)
        assert np.allclose(clipped, np.clip(box, 0, 256))
    behind = Camera(intrinsics(100, 100, 50, 50), np.eye(4), 100, 100)
    assert sphere_box(np.array([0.0, 0.0, 0.1]), 0.2, behind) is None
