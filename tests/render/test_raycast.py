"""The ``raycast`` backend against analytic answers, against the pybullet backend, and end to end in the ``render``
source: plane depth, sphere areas, pixel centres, K[R|t]X, tight boxes, two-view depth, object-on-object
shadows, masks/depth/colours vs TinyRenderer, exact normals, reproducible bytes from ``fakevision make``."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakevision.core.sample import boxes_from_masks
from fakevision.render import (
    Camera,
    Ground,
    Light,
    ObjectSpec,
    Scene,
    SceneOptions,
    analytic,
    get_backend,
    intrinsics,
    look_at,
    render_ground_truth,
    sample_camera,
    sample_scene,
)
from fakevision.render.backends.base import RenderBuffers
from fakevision.render.backends.raycast import RaycastBackend, RaycastBuffers
from fakevision.render.groundtruth import sphere_box, surface_normals
from fakevision.render.placement import rest_analytic
from fakevision.render.scene import Texture
from fakevision.render.textures import bake_pattern
from tests.engine.helpers import tree_digest
from tests.render.test_camera_conventions import _edge_scene

NO_SHADOW = Light(shadows=False)


@pytest.fixture(scope="module")
def rc() -> RaycastBackend:
    return get_backend("raycast")


def test_registered_and_shared(rc: RaycastBackend) -> None:
    assert isinstance(rc, RaycastBackend) and get_backend("raycast") is rc and rc.name == "raycast"


# -- analytic properties ---------------------------------------------------------------------------------------
def test_plane_depth(rc: RaycastBackend) -> None:
    """Straight down from height h: z-depth h everywhere; tilted: the closed-form ray-plane intersection."""
    scene = Scene(ground=Ground(Texture("checker", cells=8), size=40.0), light=NO_SHADOW)
    h = 1.7
    down = Camera(intrinsics(60, 60, 40, 30), look_at(np.array([0.1, 0.2, h]), np.array([0.1, 0.2, 0.0]),
                                                        up=np.array([0.0, 1.0, 0.0])), 80, 60, near=0.05, far=30)
    d = rc.render(scene, down).depth
    assert np.all(d > 0) and np.max(np.abs(d - h) / h) <= 1e-3
    tilted = Camera(intrinsics(70, 70, 40, 30), look_at(np.array([0.5, -1.0, 1.2]), np.array([0.0, 0.5, 0.0])),
                    80, 60, near=0.05, far=30)
    buf = rc.render(scene, tilted)
    s = -tilted.position[2] / (tilted.rays() @ tilted.world_to_camera[:3, :3])[..., 2]
    hit = (s > 0) & (buf.depth > 0)
    assert hit.mean() > 0.5 and np.all(buf.instance == -1)
    assert np.max(np.abs(buf.depth[hit] - s[hit]) / s[hit]) <= 1e-3


@pytest.mark.parametrize("dist,radius", [(1.0, 0.1), (2.5, 0.3), (0.6, 0.15)])
def test_sphere_mask_area_matches_projected_disc(dist: float, radius: float) -> None:
    """Exact intersections: the mask covers the projected disc's area to well within 1 % (TinyRenderer's
    tessellated sphere: 3 %), and the depth at the centre is the sphere's near point."""
    f, W = 200.0, 160
    cam = Camera(intrinsics(f, f, W / 2, W / 2), look_at(np.array([0.0, -dist, 0.0]), np.zeros(3)), W, W)
    scene = Scene(objects=(ObjectSpec("sphere", (2 * radius,) * 3, (0.0, 0.0, 0.0)),),
                  ground=Ground(visible=False), light=NO_SHADOW)
    _, gt = render_ground_truth(scene, cam, settle=False, renderer="raycast")
    rho = f * radius / np.sqrt(dist**2 - radius**2)
    expected = np.pi * rho**2
    area = gt.masks[0].sum()
    assert abs(area - expected) / expected < 0.01, (area, expected)
    np.testing.assert_allclose(gt.amodal_boxes[0], [W / 2 - rho, W / 2 - rho, W / 2 + rho, W / 2 + rho], atol=0.2)
    np.testing.assert_allclose(gt.boxes[0], gt.amodal_boxes[0], atol=1.0)  # box = tight mask box
    # z-depth of the pixel just off the optical axis: the ray hits the sphere close to its near point.
    assert abs(gt.depth[W // 2, W // 2] - (dist - radius)) < 1e-3 * dist


@pytest.mark.parametrize("size", [(63, 47), (64, 48)])
def test_pixel_centres_decide_coverage(rc: RaycastBackend, size: tuple[int, int]) -> None:
    """A pixel is covered iff its centre (i + 0.5) is: edges placed at sub-pixel positions in both axes."""
    W, H = size
    cam = Camera(intrinsics(50.0, 55.0, W / 2 + 3.3, H / 2 - 2.1), np.eye(4), W, H, near=0.1, far=10.0)
    for axis in (0, 1):
        for edge in (30.2, 30.45, 30.55, 30.8, 31.0):
            buf = rc.render(_edge_scene(axis, edge, cam, 2.0), cam)
            line = buf.instance[H // 2] if axis == 0 else buf.instance[:, W // 2]
            assert int(np.argmax(line == 0)) == int(np.ceil(edge - 0.5)), (axis, edge)


def test_keypoint_projection_lands_on_the_rendered_point(rc: RaycastBackend) -> None:
    """A tiny sphere at a 3D point: its mask centroid is the centre of its exact silhouette ellipse (< 0.15 px),
    which is the projection K[R|t]X of the point up to perspective (< 0.3 px here)."""
    cam = Camera(intrinsics(300, 300, 64.3, 47.6), look_at(np.array([0.3, -1.2, 0.9]), np.zeros(3)), 128, 96)
    X = np.array([0.05, 0.02, 0.1])
    scene = Scene(objects=(ObjectSpec("sphere", (0.04,) * 3, tuple(X)),), ground=Ground(visible=False),
                  light=NO_SHADOW)
    rows, cols = np.nonzero(rc.render(scene, cam).instance == 0)
    P = cam.K @ cam.world_to_camera[:3, :]
    h = P @ np.append(X, 1.0)
    centroid = np.array([cols.mean() + 0.5, rows.mean() + 0.5])
    box = sphere_box(cam.to_camera(X[None])[0], 0.02, cam)
    assert np.linalg.norm(centroid - (box[:2] + box[2:]) / 2) < 0.15
    assert np.linalg.norm(centroid - h[:2] / h[2]) < 0.3


def test_box_corners_are_keypoints_and_bound_the_mask() -> None:
    """A box in the open: every corner keypoint projects onto (or within a pixel of) its mask, the visible
    keypoints pass the depth test, and the mask's tight box is the projected corners' box (+-1 px)."""
    cam = Camera(intrinsics(220, 220, 80, 60), look_at(np.array([0.7, -0.9, 0.8]), np.array([0.0, 0.0, 0.08])),
                 160, 120)
    q = tuple(np.array([0.1, -0.2, 0.35, 0.9]) / np.linalg.norm([0.1, -0.2, 0.35, 0.9]))
    scene = rest_analytic(Scene(objects=(ObjectSpec("box", (0.25, 0.15, 0.1), (0.0, 0.0, 0.2), orientation=q),),
                                light=NO_SHADOW))
    _, gt = render_ground_truth(scene, cam, settle=False, renderer="raycast")
    np.testing.assert_allclose(gt.boxes[0], gt.amodal_boxes[0], atol=1.0)
    assert (gt.visibility[0] == 2).sum() >= 5  # a box seen from above a corner shows 7 of its 10 points
    for (x, y), v in zip(gt.keypoints[0], gt.visibility[0], strict=True):
        if v == 2:
            assert gt.masks[0][int(y), int(x)]


# Two-view depth reprojection: tests/render/test_groundtruth.py, parametrised over pybullet and raycast.


# -- agreement with the pybullet backend ------------------------------------------------------------------------
def _pair(seed: int, shadows: bool = False) -> tuple[Scene, Camera, RenderBuffers, RenderBuffers]:
    rng = np.random.default_rng(seed)
    scene = sample_scene(rng, SceneOptions(objects=(4, 6)))
    scene = get_backend().settle(scene) if seed % 2 else rest_analytic(scene)
    scene = scene.replace(light=dataclasses.replace(scene.light, shadows=shadows))
    cam = sample_camera(rng, 192, 192)
    return scene, cam, get_backend("pybullet").render(scene, cam, "analytic"), get_backend("raycast").render(scene, cam)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_agrees_with_pybullet(seed: int) -> None:
    """Per object: mask IoU >= 0.95 for boxes (both exact: the triangles are the faces); spheres and cylinders
    >= 0.9, since TinyRenderer draws a 32 x 16 / 64-segment tessellation whose silhouette lies inside the true one
    (0.8 % less area on average, more for small spheres); metric depth within 1 % where both see the object, away
    from the silhouette (where the facets and the true surface part); the same colours (TinyRenderer's light
    model); the ground: same depth, same pixels."""
    scene, _cam, pb, rc = _pair(seed)
    kernel = np.ones((3, 3), np.uint8)
    for i, obj in enumerate(scene.objects):
        a, b = pb.instance == i, rc.instance == i
        if a.sum() + b.sum() < 100:
            continue
        iou = (a & b).sum() / (a | b).sum()
        assert iou >= (0.95 if obj.shape == "box" else 0.9), (i, obj.shape, iou)
        core = cv2.erode((a & b).astype(np.uint8), kernel).astype(bool)  # off the outline (and its anti-aliasing)
        both = (a & b) if obj.shape == "box" else core
        if core.sum() == 0:
            continue
        rel = np.abs(pb.depth[both] - rc.depth[both]) / rc.depth[both]
        assert rel.max() <= 0.01, (i, obj.shape, rel.max())
        diff = np.abs(pb.rgb[core].astype(int) - rc.rgb[core].astype(int))
        assert diff.mean() <= 3.0, (i, obj.shape, diff.mean())
    ground = (pb.instance < 0) & (rc.instance < 0) & pb.drawn
    np.testing.assert_array_equal(pb.depth[ground], rc.depth[ground])
    open_ground = cv2.erode(ground.astype(np.uint8), kernel).astype(bool)
    assert np.abs(pb.rgb[open_ground].astype(int) - rc.rgb[open_ground].astype(int)).max() <= 1
    assert ((pb.instance >= 0) != (rc.instance >= 0)).mean() < 0.01


def _plain_ground_image(cam: Camera, ground: Ground, light: Light) -> np.ndarray:
    """The ground image by its plain definition: the 3-channel pattern warped, then scaled per channel by
    ``cv2.transform`` (what ``analytic.ground_image`` did before its one-channel + look-up-table path)."""
    tex = bake_pattern(ground.texture.kind, ground.texture.cells, ground.texture.variant, analytic.GROUND_TEXTURE)
    T, S = analytic.GROUND_TEXTURE, ground.size
    shift = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    P = cam.K @ cam.world_to_camera[:3, :]
    A = np.array([[T / S, 0.0, T / 2 - 0.5], [0.0, T / S, T / 2 - 0.5], [0.0, 0.0, 1.0]])
    M = A @ np.linalg.inv(P[:, [0, 1, 3]]) @ shift
    warped = cv2.warpPerspective(tex, M, (cam.width, cam.height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
    k = analytic.ground_shading(light) * np.asarray(ground.texture.colour) * np.asarray(light.colour)
    return cv2.transform(warped, np.diag(k))


def test_ground_image_is_the_plain_definition() -> None:
    """The one-channel warp + look-up tables (``analytic.ground_image``, which both backends use) give exactly the
    pixels of warping the 3-channel pattern and scaling it with ``cv2.transform``; a shade given over a window
    equals the same shade given over the whole frame (1 outside the window)."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        scene, cam = sample_scene(rng, SceneOptions()), sample_camera(rng, 120, 90)
        plain = _plain_ground_image(cam, scene.ground, scene.light)
        np.testing.assert_array_equal(analytic.ground_image(cam, scene.ground, scene.light), plain)
        cover = np.zeros((90, 120), np.float32)
        cover[20:50, 30:70] = rng.random((30, 40), np.float32)
        full = analytic.ground_image(cam, scene.ground, scene.light, analytic.shadow_shade(scene.light, cover))
        win = analytic.ground_image(cam, scene.ground, scene.light,
                                    analytic.shadow_shade(scene.light, cover[20:50, 30:70]), (30, 20, 70, 50))
        np.testing.assert_array_equal(full, win)
        assert np.array_equal(full[cover == 0], plain[cover == 0]) and np.all(full <= plain)


def test_ground_depth_shortcut_is_bitwise_the_tested_path() -> None:
    """``analytic.ground_depth`` skips the per-pixel range and extent tests when the corners show they cannot fail:
    the same bits as the tested path, whichever path a view takes."""
    shortcut = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        scene, cam = sample_scene(rng, SceneOptions()), sample_camera(rng, 64, 48)
        ground = scene.ground if seed % 3 else dataclasses.replace(scene.ground, size=0.8)  # its edge in view
        fast, tested = analytic.ground_depth(cam, ground), analytic._ground_depth_tested(cam, ground)
        assert fast.dtype == tested.dtype == np.float32
        np.testing.assert_array_equal(fast, tested)
        shortcut += bool(np.all(tested > 0))
    assert 0 < shortcut < 12  # views where the ground fills the frame, and views where it does not


# -- shadows ---------------------------------------------------------------------------------------------------
def _sphere_over_box(shadows: bool) -> tuple[Scene, Camera]:
    box = ObjectSpec("box", (0.4, 0.4, 0.1), (0.0, 0.0, 0.05), texture=Texture("plain", (0.8, 0.7, 0.6)))
    ball = ObjectSpec("sphere", (0.1,) * 3, (0.0, 0.0, 0.3), texture=Texture("plain", (0.2, 0.4, 0.9)))
    light = Light(direction=(0.0, 0.0, 1.0), ambient=0.4, diffuse=0.6, specular=0.2, shadows=shadows)
    cam = Camera(intrinsics(200, 200, 64, 64), look_at(np.array([0.5, -0.8, 0.9]), np.array([0.0, 0.0, 0.1])),
                 128, 128)
    return Scene(objects=(box, ball), ground=Ground(), light=light), cam


def test_object_shadows_another_object(rc: RaycastBackend) -> None:
    """A small sphere above a large box, light overhead: the box top under the sphere keeps its ambient light
    only (an exact disc of the sphere's radius), the rest of the box is unchanged; masks and depth are not
    touched by shadows."""
    lit_scene, cam = _sphere_over_box(False)
    dark_scene, _ = _sphere_over_box(True)
    lit, dark = rc.render(lit_scene, cam), rc.render(dark_scene, cam)
    np.testing.assert_array_equal(lit.instance, dark.instance)
    np.testing.assert_array_equal(lit.depth, dark.depth)
    top = (dark.instance == 0) & (np.abs(cam.backproject(dark.depth)[..., 2] - 0.1) < 1e-4)
    X = cam.backproject(dark.depth)
    r = np.hypot(X[..., 0], X[..., 1])
    under, away = top & (r < 0.045), top & (r > 0.055)
    assert under.sum() > 50 and away.sum() > 500
    # Lit top (n = l = +z): c (ambient + diffuse + specular); in shadow: c * ambient (TinyRenderer truncates).
    c = np.floor(255 * np.array([0.8, 0.7, 0.6]))
    np.testing.assert_array_equal(dark.rgb[under], np.tile(np.floor(c * 0.4), (under.sum(), 1)))
    np.testing.assert_array_equal(lit.rgb[under], np.tile(np.minimum(np.floor(c * 1.2), 255), (under.sum(), 1)))
    same = away & ~cv2.dilate((dark.instance == 1).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    np.testing.assert_array_equal(dark.rgb[same], lit.rgb[same])  # anti-aliasing near the sphere aside


def test_ground_shadow_is_the_projected_silhouette() -> None:
    """The ground's shadow of a sphere under a slanted light is the exact ellipse (the projected disc), darker
    than the lit ground, and it only touches ground pixels' RGB (without the outline's anti-aliasing, which
    mixes the ground's colour into the sphere's edge pixels)."""
    rc = RaycastBackend(antialias=False)
    l = np.array([0.8, -0.5, 1.0])
    ball = ObjectSpec("sphere", (0.3,) * 3, (0.0, 0.0, 0.4))
    scene = Scene(objects=(ball,), ground=Ground(Texture("plain", (0.6, 0.6, 0.6))),
                  light=Light(direction=tuple(l), shadows=True))
    cam = Camera(intrinsics(150, 150, 64, 64), look_at(np.array([0.0, 0.0, 2.0]), np.zeros(3),
                                                       up=np.array([0.0, 1.0, 0.0])), 128, 128)
    dark = rc.render(scene, cam)
    lit = rc.render(scene.replace(light=dataclasses.replace(scene.light, shadows=False)), cam)
    np.testing.assert_array_equal(lit.instance, dark.instance)
    ground = dark.instance < 0
    changed = np.any(lit.rgb != dark.rgb, axis=2)
    assert not np.any(changed & ~ground)
    # Ground point X is shadowed iff the ray X + s l meets the sphere: its distance to the line < r.
    X = cam.backproject(dark.depth)
    ln = l / np.linalg.norm(l)
    w = np.asarray(ball.position) - X
    dist = np.linalg.norm(w - (w @ ln)[..., None] * ln, axis=-1)
    inside, outside = ground & (dist < 0.15 - 0.02), ground & (dist > 0.15 + 0.02)  # 1.5 px or more
    assert inside.sum() > 300
    assert np.all(dark.rgb[inside] < lit.rgb[inside]) and np.array_equal(dark.rgb[outside], lit.rgb[outside])


# -- the rest of the contract -----------------------------------------------------------------------------------
def test_amodal_masks(rc: RaycastBackend) -> None:
    cam = Camera(intrinsics(150, 150, 64, 64), look_at(np.array([0.0, -1.0, 0.3]), np.array([0.0, 0.0, 0.1])),
                 128, 128)
    wall = ObjectSpec("box", (0.17, 0.02, 0.4), (-0.115, -0.3, 0.2))
    cyl = ObjectSpec("cylinder", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1))
    scene = Scene(objects=(wall, cyl), ground=Ground(), light=NO_SHADOW)
    _, gt = render_ground_truth(scene, cam, settle=False, amodal_masks=True, renderer="raycast")
    assert np.all(gt.amodal_masks >= gt.masks)
    np.testing.assert_allclose(boxes_from_masks(gt.amodal_masks), gt.amodal_boxes, atol=1.0)
    frac = {gt.object_indices[n]: a["visible_fraction"] for n, a in enumerate(gt.instance_attributes)}
    assert frac[0] == 1.0 and 0.3 < frac[1] < 0.8
    alone = rc.render_amodal(scene, cam)
    for i, obj in enumerate(scene.objects):
        np.testing.assert_array_equal(alone[i], rc.render(scene.replace(objects=(obj,), ground=Ground(
            visible=False)), cam).instance == 0)


def test_normals_are_exact_and_match_the_ground_truth_definition(rc: RaycastBackend) -> None:
    rng = np.random.default_rng(4)
    scene = rest_analytic(sample_scene(rng, SceneOptions(objects=(5, 6))))
    cam = sample_camera(rng, 128, 128)
    buf = rc.render(scene, cam)
    assert isinstance(buf, RaycastBuffers)
    n = buf.normals
    assert n.dtype == np.float32 and n.shape == (128, 128, 3)
    ref = surface_normals(scene, cam, RenderBuffers(buf.rgb, buf.instance, buf.depth))
    np.testing.assert_allclose(n, ref, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(n[buf.drawn], axis=1), 1.0, atol=1e-5)
    assert np.all(n[~buf.drawn] == 0)
    np.testing.assert_array_equal(rc.render_normals(scene, cam), n)


def test_meshes_are_refused_with_a_clear_message(rc: RaycastBackend, tmp_path: Path) -> None:
    scene = Scene(objects=(ObjectSpec("mesh", (0.1, 0.1, 0.1), (0.0, 0.0, 0.05), mesh_path=str(tmp_path / "mug.obj")),))
    cam = sample_camera(np.random.default_rng(0), 64, 64)
    for call in (rc.render, rc.render_amodal):
        with pytest.raises(ValueError, match=r"raycast draws box/sphere/cylinder only.*mug\.obj.*renderer: pybullet"):
            call(scene, cam)
    with pytest.raises(ValueError, match="ground"):
        rc.render(Scene(), cam, "plane")


def test_antialiasing_changes_outline_colours_only() -> None:
    """``antialias=True``: the same masks and depth; only pixels on an object's outline change, each to a mix
    of the two sides (flat colours, no light but ambient: every pixel of a side has one colour)."""
    scene = Scene(objects=(ObjectSpec("box", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1), texture=Texture("plain", (1, 0, 0))),
                           ObjectSpec("sphere", (0.12,) * 3, (0.15, 0.15, 0.06),
                                      texture=Texture("plain", (0, 1, 0)))),
                  ground=Ground(Texture("plain", (0.2, 0.2, 0.9))),
                  light=Light(ambient=1.0, diffuse=0.0, specular=0.0, shadows=False))
    cam = Camera(intrinsics(90, 90, 48, 40), look_at(np.array([0.6, -0.8, 0.7]), np.array([0, 0, 0.1])), 96, 80)
    plain, smooth = RaycastBackend().render(scene, cam), RaycastBackend(antialias=True).render(scene, cam)
    np.testing.assert_array_equal(plain.instance, smooth.instance)
    np.testing.assert_array_equal(plain.depth, smooth.depth)
    lbl = plain.instance
    outline = np.zeros(lbl.shape, bool)
    for axis in (0, 1):
        for shift in (1, -1):
            outline |= lbl != np.roll(lbl, shift, axis)
    diff = np.abs(plain.rgb.astype(int) - smooth.rgb.astype(int)).max(axis=2)
    assert diff[~outline].max() == 0 and (diff[outline] > 20).mean() > 0.2
    colours = {tuple(c) for c in plain.rgb.reshape(-1, 3).tolist()}
    assert len(colours) == 3  # red box, green sphere, blue ground
    lo, hi = plain.rgb.reshape(-1, 3).min(axis=0), plain.rgb.reshape(-1, 3).max(axis=0)
    assert np.all(smooth.rgb >= lo) and np.all(smooth.rgb <= hi)


def test_empty_and_groundless_scenes(rc: RaycastBackend) -> None:
    cam = sample_camera(np.random.default_rng(1), 64, 48)
    buf = rc.render(Scene(), cam)
    assert np.all(buf.instance == -1) and buf.rgb.shape == (48, 64, 3)
    buf = rc.render(Scene(ground=Ground(visible=False)), cam)
    assert not buf.drawn.any() and np.all(buf.normals == 0)


# -- end to end ------------------------------------------------------------------------------------------------
RECIPE = """\
name: raycast-test
seed: 5
shard_size: 4
sources:
  - type: render
    count: 8
    width: 96
    height: 80
    renderer: raycast
outputs:
  - format: coco
  - format: manifest
"""


def _fv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fakevision.cli", *args], capture_output=True, text=True, check=False,
                          timeout=600)


@pytest.mark.slow
def test_make_with_raycast_writes_valid_reproducible_data(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    a = _fv("make", str(recipe), "--out", str(tmp_path / "a"), "-q")
    assert a.returncode == 0, a.stderr
    r = _fv("inspect", str(tmp_path / "a"))
    assert r.returncode == 0 and "8 samples" in r.stdout and "no problems" in r.stdout, r.stdout + r.stderr
    b = _fv("make", str(recipe), "--out", str(tmp_path / "b"), "-q")
    assert b.returncode == 0, b.stderr
    da, db = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert len(da) > 5 and da == db
    text = "\n".join(p.read_text() for p in (tmp_path / "a").rglob("*.json*") if p.stat().st_size < 5_000_000)
    assert re.search(r'"renderer":\s*"raycast"', text)


_CHILD = """
import sys, json
sys.path.insert(0, {root!r})
from tests.render.test_raycast import _make_digests
print(json.dumps(_make_digests({indices!r})))
"""


def _make_digests(indices: list[int]) -> list[str]:
    import hashlib

    from fakevision.core.source import build_source, make_sample
    from fakevision.render.source import RenderConfig

    src = build_source(RenderConfig(type="render", count=64, width=96, height=80, renderer="raycast"), Path("."))
    out = []
    for i in indices:
        s = make_sample(src, i, 0)
        h = hashlib.sha256()
        a = s.annotations
        for arr in (s.image, a.masks, a.depth, a.keypoints, a.visibility, a.boxes, a.label_map, a.normals):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(json.dumps(s.provenance.to_dict(), sort_keys=True).encode())
        out.append(h.hexdigest())
    return out


@pytest.mark.slow
def test_fresh_process_equals_warm_process() -> None:
    """Sample 9 alone in a new process == sample 9 made after samples of other scenes in this one (per-scene
    caches must not leak between scenes)."""
    here = _make_digests([0, 13, 2, 8, 9])[-1]
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=root, indices=[9])], capture_output=True,
                         text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [here]
