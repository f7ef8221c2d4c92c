"""The optional pyrender (OpenGL, EGL) backend: held to the pybullet backend's ground-truth contract with the same
analytic checks (sub-pixel edges, plane depth, sphere area, K[R|t]X, tight boxes, keypoints vs depth), compared with
pybullet on random settled scenes, and run end to end through ``fakevision make``. Skipped, saying why, where
pyrender or an EGL context is not available (``pip install "fakevision[pyrender]"`` plus the apt packages)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fakevision.core.sample import OCCLUDED, VISIBLE, boxes_from_masks
from fakevision.render import (
    Camera,
    Ground,
    Light,
    ObjectSpec,
    Scene,
    SceneOptions,
    compute_ground_truth,
    get_backend,
    intrinsics,
    look_at,
    render_ground_truth,
    sample_camera,
    sample_scene,
)
from fakevision.render.scene import Texture

NO_SHADOW = Light(shadows=False)
IDS = {"box": 1, "sphere": 2, "cylinder": 3}


@pytest.fixture(scope="module")
def gl():  # the PyrenderBackend, or skip
    try:
        return get_backend("pyrender")
    except ImportError as e:
        pytest.skip(f"pyrender backend unavailable: {e}")


def test_missing_pyrender_raises_one_line_install_hint() -> None:
    """Without pyrender the backend says exactly what to install, in one line (checked in a fresh process where
    ``import pyrender`` fails)."""
    code = ("import sys; sys.modules['pyrender'] = None\n"
            "from fakevision.render.backends import get_backend\n"
            "try:\n    get_backend('pyrender')\nexcept ImportError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    line = out.stdout.strip()
    assert line.startswith("ERR") and "\n" not in line
    assert 'pip install "fakevision[pyrender]"' in line and "libegl1 libegl-mesa0 libgl1-mesa-dri" in line


# -- analytic checks (as tests/render/test_camera_conventions.py and test_groundtruth.py for pybullet) -------------
def _edge_scene(axis: int, edge: float, cam: Camera, z: float) -> Scene:
    e = (edge - cam.K[axis, 2]) * z / cam.K[axis, axis]
    big = 50.0
    pos = [0.0, 0.0, z + 0.0005]
    pos[axis] = e + big / 2
    return Scene(objects=(ObjectSpec("box", (big, big, 0.001), tuple(pos)),),  # type: ignore[arg-type]
                 ground=Ground(visible=False), light=NO_SHADOW)


@pytest.mark.parametrize("size", [(63, 47), (64, 48)])
def test_pixel_centres_decide_coverage(gl, size: tuple[int, int]) -> None:
    W, H = size
    cam = Camera(intrinsics(50.0, 55.0, W / 2 + 3.3, H / 2 - 2.1), np.eye(4), W, H, near=0.1, far=10.0)
    for axis in (0, 1):
        for edge in (30.2, 30.45, 30.55, 30.8, 31.0):
            buf = gl.render(_edge_scene(axis, edge, cam, 2.0), cam)
            line = buf.instance[H // 2] if axis == 0 else buf.instance[:, W // 2]
            assert int(np.argmax(line == 0)) == int(np.ceil(edge - 0.5)), (axis, edge)


def test_plane_depth_is_metric_z(gl) -> None:
    scene = Scene(ground=Ground(Texture("checker", cells=8), size=40.0), light=NO_SHADOW)
    h = 1.7
    down = Camera(intrinsics(60, 60, 40, 30), look_at(np.array([0.1, 0.2, h]), np.array([0.1, 0.2, 0.0]),
                                                        up=np.array([0.0, 1.0, 0.0])), 80, 60, near=0.05, far=30)
    buf = gl.render(scene, down)
    assert np.all(buf.depth > 0) and np.all(buf.instance == -1)
    assert np.max(np.abs(buf.depth - h) / h) <= 1e-3
    tilted = Camera(intrinsics(70, 70, 40, 30), look_at(np.array([0.5, -1.0, 1.2]), np.array([0.0, 0.5, 0.0])),
                    80, 60, near=0.05, far=30)
    for ground in ("mesh", "analytic"):
        d = gl.render(scene, tilted, ground).depth
        s = -tilted.position[2] / (tilted.rays() @ tilted.world_to_camera[:3, :3])[..., 2]
        hit = (s > 0) & (d > 0)
        assert hit.mean() > 0.5 and not np.any((d > 0) & (s <= 0))
        assert np.max(np.abs(d[hit] - s[hit]) / s[hit]) <= 1e-3
    with pytest.raises(ValueError, match="ground"):
        gl.render(scene, tilted, "plane")


@pytest.mark.parametrize("dist,radius", [(1.0, 0.1), (2.5, 0.3), (0.6, 0.15)])
def test_sphere_mask_area_matches_projected_disc(gl, dist: float, radius: float) -> None:
    f, W = 200.0, 160
    cam = Camera(intrinsics(f, f, W / 2, W / 2), look_at(np.array([0.0, -dist, 0.0]), np.zeros(3)), W, W)
    scene = Scene(objects=(ObjectSpec("sphere", (2 * radius,) * 3, (0.0, 0.0, 0.0)),),
                  ground=Ground(visible=False), light=NO_SHADOW)
    _, gt = render_ground_truth(scene, cam, settle=False, renderer="pyrender")
    rho = f * radius / np.sqrt(dist**2 - radius**2)
    expected = np.pi * rho**2
    assert abs(gt.masks[0].sum() - expected) / expected < 0.02
    np.testing.assert_allclose(boxes_from_masks(gt.masks)[0], [W / 2 - rho, W / 2 - rho, W / 2 + rho, W / 2 + rho],
                               atol=1.0)


def test_keypoint_projection_lands_on_the_rendered_point(gl) -> None:
    """A tiny sphere at a 3D point: its mask centroid is K[R|t]X (< 0.3 px)."""
    cam = Camera(intrinsics(300, 300, 64.3, 47.6), look_at(np.array([0.3, -1.2, 0.9]), np.zeros(3)), 128, 96)
    X = np.array([0.05, 0.02, 0.1])
    scene = Scene(objects=(ObjectSpec("sphere", (0.04,) * 3, tuple(X)),), ground=Ground(visible=False),
                  light=NO_SHADOW)
    rows, cols = np.nonzero(gl.render(scene, cam).instance == 0)
    uv, _ = cam.project(X[None])
    assert np.linalg.norm([cols.mean() + 0.5 - uv[0, 0], rows.mean() + 0.5 - uv[0, 1]]) < 0.3


def _settled_view(seed: int, size: int = 128) -> tuple[Scene, Camera]:
    rng = np.random.default_rng(seed)
    scene = get_backend().settle(sample_scene(rng, SceneOptions(objects=(4, 6))))
    return scene, sample_camera(rng, size, size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_boxes_keypoints_depth_agree(gl, seed: int) -> None:
    scene, cam = _settled_view(seed)
    buf = gl.render(scene, cam)
    gt = compute_ground_truth(scene, cam, buf, IDS)
    assert gt.masks.shape[0] >= 1 and np.all(gt.masks.sum(axis=(1, 2)) > 0)
    np.testing.assert_allclose(gt.boxes, boxes_from_masks(gt.masks))  # box = tight mask box
    assert np.all(gt.amodal_boxes[:, :2] <= gt.boxes[:, :2] + 1) and np.all(gt.amodal_boxes[:, 2:] >= gt.boxes[:, 2:] - 1)
    assert buf.depth.dtype == np.float32 and buf.instance.dtype == np.int32 and buf.rgb.dtype == np.uint8
    assert np.all(buf.depth[buf.instance >= 0] > 0)
    for n, i in enumerate(gt.object_indices):
        _, z = cam.project(scene.objects[i].to_world(_kp(scene.objects[i])))
        for (x, y), zz, v in zip(gt.keypoints[n], z, gt.visibility[n], strict=False):
            if v == VISIBLE:  # on the mask, and the rendered depth there is the point's own
                r, c = int(np.floor(y)), int(np.floor(x))
                assert gt.masks[n][r, c] and abs(buf.depth[r, c] - zz) <= 0.015 * zz + 2 * zz / cam.K[0, 0]
            elif v == OCCLUDED:
                r, c = int(np.floor(y)), int(np.floor(x))
                assert buf.instance[r, c] != i or abs(buf.depth[r, c] - zz) > 0.015 * zz


def _kp(obj: ObjectSpec) -> np.ndarray:
    from fakevision.render import shapes

    return shapes.keypoints_object(obj)[0]


# -- agreement with pybullet -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_agrees_with_pybullet_on_random_settled_scenes(gl, seed: int) -> None:
    """Per-object mask IoU >= 0.9 (objects of >= 30 pixels); where both show the same object, depth within 1 % for
    99 % of the pixels and for all pixels 3 or more pixels inside the outline (nearer the outline pybullet's coarser
    sphere, 32 x 16 facets, lies up to 1.5 % deeper than ours: see the next test for which is right); within 0.1 %
    on the ground; keypoint visibility the same for >= 90 % of the keypoints."""
    from scipy import ndimage

    scene, cam = _settled_view(seed)
    pb, pr = get_backend("pybullet").render(scene, cam, "mesh"), gl.render(scene, cam)
    for i in range(len(scene.objects)):
        a, b = pb.instance == i, pr.instance == i
        if a.sum() >= 30 or b.sum() >= 30:
            assert (a & b).sum() / (a | b).sum() >= 0.9, (i, scene.objects[i].shape)
    same = (pb.instance == pr.instance) & (pb.instance >= 0)
    assert same.sum() > 300
    rel = np.abs(pb.depth - pr.depth) / np.maximum(pb.depth, 1e-9)
    assert np.percentile(rel[same], 99) <= 0.01
    inner = ndimage.binary_erosion(same, iterations=2)
    assert rel[inner].max() <= 0.01, rel[inner].max()
    ground = (pb.instance == -1) & (pr.instance == -1) & pb.drawn & pr.drawn
    assert np.max(np.abs(pb.depth - pr.depth)[ground] / pb.depth[ground]) <= 1e-3
    assert (pb.drawn == pr.drawn).mean() > 0.99
    ga, gb = compute_ground_truth(scene, cam, pb, IDS), compute_ground_truth(scene, cam, pr, IDS)
    common = [i for i in ga.object_indices if i in gb.object_indices]
    va = np.concatenate([ga.visibility[ga.object_indices.index(i)] for i in common])
    vb = np.concatenate([gb.visibility[gb.object_indices.index(i)] for i in common])
    assert (va == vb).mean() >= 0.9


def test_sphere_depth_is_the_analytic_sphere(gl) -> None:
    """Depth on a sphere equals the ray-sphere intersection to 0.1 % (<= 0.5 % on its outermost ring of pixels):
    the 96 x 48 tessellation keeps the facets within 0.05 % of the radius."""
    from scipy import ndimage

    cam = Camera(intrinsics(220, 220, 64.2, 63.7), look_at(np.array([0.4, -0.9, 0.5]), np.array([0, 0, 0.1])), 128,
                 128)
    c, r = np.array([0.02, 0.01, 0.1]), 0.1
    scene = Scene(objects=(ObjectSpec("sphere", (2 * r,) * 3, tuple(c)),), ground=Ground(visible=False),
                  light=NO_SHADOW)
    buf = gl.render(scene, cam)
    m = buf.instance == 0
    d = cam.rays() @ cam.world_to_camera[:3, :3]  # world direction of each pixel's ray, scaled so z-depth = t
    o = cam.position - c
    a, b, cc = np.sum(d * d, -1), 2 * d @ o, o @ o - r * r
    t = (-b - np.sqrt(np.maximum(b * b - 4 * a * cc, 0))) / (2 * a)
    rel = np.abs(buf.depth - t) / t
    assert m.sum() > 1000
    assert rel[ndimage.binary_erosion(m)].max() <= 1e-3 and rel[m].max() <= 5e-3


def test_ground_texture_lines_up_with_pybullet(gl) -> None:
    """The ground's checker cells fall where pybullet's analytic ground puts them (same UVs, same orientation):
    light and dark agree on >= 95 % of the ground pixels."""
    scene = Scene(ground=Ground(Texture("checker", (1.0, 1.0, 1.0), cells=8), size=6.0),
                  light=Light(direction=(0.0, 0.0, 1.0), shadows=False))
    cam = Camera(intrinsics(120, 120, 64, 64), look_at(np.array([0.7, -1.3, 1.4]), np.array([0.3, 0.4, 0.0])),
                 128, 128)
    pb, pr = get_backend("pybullet").render(scene, cam, "analytic"), gl.render(scene, cam)
    ground = pb.drawn & pr.drawn
    lum_a, lum_b = pb.rgb.mean(axis=2)[ground], pr.rgb.mean(axis=2)[ground]
    agree = (lum_a > np.median(lum_a)) == (lum_b > np.median(lum_b))
    assert agree.mean() >= 0.95


# -- the picture ---------------------------------------------------------------------------------------------------
def test_silhouettes_are_anti_aliased_and_masks_are_not(gl) -> None:
    """A flat red box on a flat blue ground, ambient light only: pixels away from the outline are pure colours,
    outline pixels mix the two (multisampling), and the instance buffer stays the pixel-centre test."""
    scene = Scene(objects=(ObjectSpec("box", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1), texture=Texture("plain", (1, 0, 0))),),
                  ground=Ground(Texture("plain", (0.0, 0.0, 1.0))),
                  light=Light(ambient=1.0, diffuse=0.0, specular=0.0, shadows=False))
    cam = Camera(intrinsics(90, 90, 48, 40), look_at(np.array([0.6, -0.8, 0.7]), np.array([0, 0, 0.1])), 96, 80)
    buf = gl.render(scene, cam)
    m = buf.instance == 0
    edge = np.zeros_like(m)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        edge |= m != np.roll(m, (dy, dx), axis=(0, 1))
    inner = m & ~edge
    assert np.all(buf.rgb[inner][:, 0] >= 250) and np.all(buf.rgb[inner][:, 2] <= 5)
    mixed = edge & (buf.rgb[..., 0] > 20) & (buf.rgb[..., 2] > 20)
    assert mixed.sum() >= 0.3 * (edge & m).sum()
    np.testing.assert_array_equal(m, gl.render(scene, cam).instance == 0)


def test_silhouettes_against_the_background_blend_with_it(gl) -> None:
    """A white sphere in front of a white background (no ground): partly covered outline pixels blend with the
    background, not with the renderer's clear colour, so the composited image has no dark fringe."""
    from fakevision.render.api import render_view
    from fakevision.render.scene import Background

    scene = Scene(objects=(ObjectSpec("sphere", (0.2,) * 3, (0.0, 0.0, 0.1), texture=Texture("plain", (1, 1, 1))),),
                  ground=Ground(visible=False), light=Light(ambient=1.0, diffuse=0.0, specular=0.0, shadows=False),
                  background=Background("gradient", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)))
    cam = Camera(intrinsics(200, 200, 40, 40), look_at(np.array([0.0, -1.0, 0.1]), np.array([0, 0, 0.1])), 80, 80)
    image, _, buf = render_view(scene, cam, backend="pyrender")
    assert buf.drawn.sum() > 500 and not buf.drawn.all()
    assert image.min() >= 245


def test_shadows_darken_rgb_only(gl) -> None:
    scene, cam = _settled_view(2)
    lit = scene.replace(light=dataclasses.replace(scene.light, shadows=False))
    shadowed = scene.replace(light=dataclasses.replace(scene.light, shadows=True))
    a, b = gl.render(lit, cam), gl.render(shadowed, cam)
    np.testing.assert_array_equal(a.instance, b.instance)
    np.testing.assert_array_equal(a.depth, b.depth)
    darker = b.rgb.astype(int).sum(axis=2) < a.rgb.astype(int).sum(axis=2) - 30
    assert darker[(a.instance == -1) & a.drawn].mean() > 0.01  # cast shadows on the ground
    assert np.all(b.rgb.astype(int) <= a.rgb.astype(int) + 1)  # shadows only darken


def test_amodal_masks_contain_visible_ones_and_leave_the_scene(gl) -> None:
    cam = Camera(intrinsics(150, 150, 64, 64), look_at(np.array([0.0, -1.0, 0.3]), np.array([0.0, 0.0, 0.1])),
                 128, 128)
    wall = ObjectSpec("box", (0.17, 0.02, 0.4), (-0.115, -0.3, 0.2))
    cyl = ObjectSpec("cylinder", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1))
    scene = Scene(objects=(wall, cyl), ground=Ground(), light=NO_SHADOW)
    before = gl.render(scene, cam)
    _, gt = render_ground_truth(scene, cam, settle=False, amodal_masks=True, renderer="pyrender")
    after = gl.render(scene, cam)
    np.testing.assert_array_equal(before.rgb, after.rgb)
    np.testing.assert_array_equal(before.depth, after.depth)
    assert gt.amodal_masks is not None and np.all(gt.amodal_masks >= gt.masks)
    np.testing.assert_allclose(boxes_from_masks(gt.amodal_masks), gt.amodal_boxes, atol=1.0)
    frac = {gt.object_indices[n]: a["visible_fraction"] for n, a in enumerate(gt.instance_attributes)}
    assert frac[0] == 1.0 and 0.3 < frac[1] < 0.8
    pb = get_backend("pybullet").render_amodal(scene, cam)
    amodal = gl.render_amodal(scene, cam)
    for i in range(2):
        assert (pb[i] & amodal[i]).sum() / (pb[i] | amodal[i]).sum() >= 0.95


def test_user_mesh_renders_with_its_extents(gl, tmp_path: Path) -> None:
    """An OBJ (a tetrahedron-topped prism with inconsistent winding) scaled to its extents: its mask matches
    pybullet's, and its visible box lies inside the amodal box from its vertices."""
    f = tmp_path / "wedge.obj"
    f.write_text("v 0 0 0\nv 2 0 0\nv 0 1 0\nv 0 0 1\nv 2 0 1\nv 0 1 1\n"
                 "f 1 2 3\nf 4 6 5\nf 1 4 5 2\nf 1 3 6 4\nf 2 5 6 3\n")
    obj = ObjectSpec("mesh", (0.3, 0.15, 0.15), (0.0, 0.0, 0.075), mesh_path=str(f), category="wedge")
    scene = Scene(objects=(obj,), light=NO_SHADOW)
    cam = Camera(intrinsics(160, 160, 64, 64), look_at(np.array([0.4, -0.6, 0.5]), np.array([0, 0, 0.05])), 128, 128)
    a, b = get_backend("pybullet").render(scene, cam, "mesh").instance == 0, gl.render(scene, cam).instance == 0
    assert b.sum() > 300 and (a & b).sum() / (a | b).sum() >= 0.95


# -- end to end ----------------------------------------------------------------------------------------------------
RECIPE = """\
name: pyrender-test
seed: 5
shard_size: 4
sources:
  - type: render
    count: 4
    width: 64
    height: 48
    views_per_scene: 2
    renderer: pyrender
outputs:
  - format: coco
  - format: manifest
"""


@pytest.mark.slow
def test_make_with_renderer_pyrender_writes_valid_identical_data(gl, tmp_path: Path, capsys) -> None:
    """``fakevision make`` with ``renderer: pyrender``: the data set inspects clean, and a second run with two
    worker processes (each its own EGL context) writes byte-identical files: llvmpipe renders deterministically."""
    from tests.engine.helpers import tree_digest

    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    fv = [sys.executable, "-m", "fakevision.cli"]
    runs = []
    for n, workers in enumerate(("1", "2")):
        out = tmp_path / f"o{n}"
        r = subprocess.run([*fv, "make", str(recipe), "--out", str(out), "--workers", workers, "-q"],
                           check=False, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        runs.append(out)
    assert tree_digest(runs[0]) == tree_digest(runs[1])
    from fakevision.cli_support import run_inspect

    assert run_inspect(runs[0], False)  # what `fakevision inspect` checks: annotations valid, files complete
    out = capsys.readouterr().out
    assert "4 samples" in out and "no problems" in out, out
