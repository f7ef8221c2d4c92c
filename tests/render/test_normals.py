"""Surface normals as an annotation: the renderer's normals against the analytic sphere, validation of bad normal
maps, and the default job writing normals that the torch Dataset loads."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from fakevision.core import Annotations, Sample
from fakevision.core.errors import InputError
from fakevision.render import Camera, Ground, Light, ObjectSpec, Scene, intrinsics, look_at, render_scene

FV = [sys.executable, "-m", "fakevision.cli"]


def _backproject_camera_frame(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """H x W x 3 camera-frame points from z-depth, pixel centres at +0.5 (the project's corner convention)."""
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w] + 0.5
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T
    return rays * depth[..., None]


@pytest.mark.parametrize(("eye", "centre", "radius"), [
    ((0.0, -1.0, 0.4), (0.0, 0.0, 0.12), 0.12),
    ((0.35, -0.4, 0.6), (0.05, 0.02, 0.08), 0.08),
])
def test_sphere_normals_equal_the_analytic_direction_from_the_centre(eye: tuple, centre: tuple,
                                                                    radius: float) -> None:
    """n = (P - C) / r with P back-projected from the rendered depth and C the sphere's centre, both in the camera
    frame (OpenCV axes): within 2 degrees on interior pixels (one pixel in from the silhouette)."""
    cam = Camera(intrinsics(220, 220, 80, 60), look_at(np.array(eye), np.array(centre)), 160, 120)
    scene = Scene(objects=(ObjectSpec("sphere", (2 * radius,) * 3, centre),), ground=Ground(visible=False),
                  light=Light(shadows=False))
    s = render_scene(scene, cam, settle=False)
    a = s.annotations
    assert a.normals is not None and a.normals.shape == (120, 160, 3) and a.normals.dtype == np.float32
    assert a.extras["normals_frame"] == "camera"
    sphere = a.masks[0]
    assert sphere.sum() > 1000
    interior = sphere.copy()
    interior[1:-1, 1:-1] &= sphere[:-2, 1:-1] & sphere[2:, 1:-1] & sphere[1:-1, :-2] & sphere[1:-1, 2:]
    P = _backproject_camera_frame(a.depth, cam.K)[interior]
    C = cam.to_camera(np.array(centre, np.float64)[None])[0]
    expected = (P - C) / radius
    np.testing.assert_allclose(np.linalg.norm(expected, axis=1), 1.0, atol=0.02)  # P does lie on the sphere
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    cos = np.sum(a.normals[interior] * expected, axis=1)
    angles = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert angles.max() < 2.0, angles.max()
    assert np.all(np.sum(a.normals[interior] * P, axis=1) < 0), "normals face the camera (n . ray < 0)"
    assert np.all(a.normals[a.depth == 0] == 0), "no surface: zero normal"


def test_normals_convention_on_the_sphere_edges() -> None:
    """OpenCV axes, pinned by hand: on the sphere's right edge (image right) the normal points +x, on its lower
    edge +y (down), at its centre -z (back at the camera)."""
    cam = Camera(intrinsics(200, 200, 64, 64), look_at(np.array([0.0, -1.0, 0.0]), np.zeros(3)), 128, 128)
    scene = Scene(objects=(ObjectSpec("sphere", (0.4,) * 3, (0.0, 0.0, 0.0)),), ground=Ground(visible=False),
                  light=Light(shadows=False))
    n = render_scene(scene, cam, settle=False).annotations.normals
    cols = np.flatnonzero(n[64].any(axis=1))
    rows = np.flatnonzero(n[:, 64].any(axis=1))
    assert n[64, cols[-1], 0] > 0.9 and n[64, cols[0], 0] < -0.9
    assert n[rows[-1], 64, 1] > 0.9 and n[rows[0], 64, 1] < -0.9
    assert n[64, 64, 2] < -0.99


@pytest.mark.parametrize(("normals", "message"), [
    (np.zeros((4, 6)), r"normals must be H x W x 3, got shape \(4, 6\)"),
    (np.zeros((4, 6, 2)), r"normals must be H x W x 3, got shape \(4, 6, 2\)"),
    (np.full((4, 6, 3), np.nan), r"normals contain NaN or infinite values: first at pixel \(row 0, col 0\)"),
    (np.full((4, 6, 3), 0.5), r"normals must be unit vectors .*pixel \(row 0, col 0\) has length 0.866"),
    (np.array(["a"] * 72).reshape(4, 6, 3), "normals must be numbers"),
])
def test_bad_normals_fail_with_a_clear_error(normals: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Annotations(normals=normals)


def test_normals_must_match_the_image_and_may_be_zero() -> None:
    n = np.zeros((4, 6, 3), np.float64)
    n[1, 2] = [0.0, 0.6, -0.8]
    n[3, 5, 2] = np.inf
    with pytest.raises(InputError, match=r"first at pixel \(row 3, col 5\)"):
        Annotations(normals=n)
    n[3, 5, 2] = 0.0
    a = Annotations(normals=n)
    assert a.normals.dtype == np.float32  # float64 in, float32 stored
    with pytest.raises(InputError, match=r"normals shape \(4, 6\) does not match image 4x7"):
        Sample(np.zeros((4, 7, 3), np.uint8), a)
    Sample(np.zeros((4, 6, 3), np.uint8), a)


@pytest.fixture(scope="module")
def small_default_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fakevision make`` of the built-in default recipe with the count cut to 6 (the newcomer's job, small)."""
    tmp = tmp_path_factory.mktemp("default-normals")
    recipe = yaml.safe_load(resources.files("fakevision.recipes").joinpath("default.yaml").read_text())
    recipe["sources"] = recipe["sources"][:1]  # the rendered scenes only
    recipe["sources"][0]["count"] = 6
    recipe["shard_size"] = 3
    (tmp / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp / "X"
    r = subprocess.run([*FV, "make", str(tmp / "recipe.yaml"), "--out", str(out), "--workers", "2", "-q"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("fmt", ["coco", "webdataset"])
def test_default_job_writes_normals_the_torch_dataset_loads(small_default_job: Path, fmt: str) -> None:
    import torch

    from fakevision.io.dataset import FakevisionDataset, collate

    ds = FakevisionDataset(small_default_job, format=fmt)
    assert len(ds) == 6
    for i in range(len(ds)):
        item = ds[i]
        n = item["normals"]
        assert isinstance(n, torch.Tensor) and n.dtype == torch.float32
        assert n.shape == (3, *item["image"].shape[1:])
        length = n.norm(dim=0)
        surface = length > 0.5
        assert torch.allclose(length[surface], torch.ones(()), atol=1e-5) and torch.all(length[~surface] == 0)
        # a surface wherever there is depth (meshes may lack a normal on a 1-pixel rim; the default has none)
        has_depth = item["depth"][0] > 0
        assert (surface == has_depth).float().mean() > 0.99
        # camera frame: visible surfaces face the camera, so nz < 0 almost everywhere
        assert (n[2][surface] < 0).float().mean() > 0.99
    batch = collate([ds[0], ds[1]])
    assert batch["normals"].shape == (2, 3, *ds[0]["image"].shape[1:])


@pytest.mark.slow
def test_default_job_files_and_inspect_count_normals(small_default_job: Path) -> None:
    coco = json.loads((small_default_job / "coco/annotations.json").read_text())
    im = coco["images"][0]
    assert im["normals_file"].startswith("normals/") and (small_default_job / "coco" / im["normals_file"]).is_file()
    r = subprocess.run([*FV, "inspect", str(small_default_job), "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads(r.stdout)
    assert info["with_normals"] == 6 and info["with_depth"] == 6
    rows = [json.loads(x) for x in (small_default_job / "manifest.jsonl").read_text().splitlines()]
    assert all(row["counts"]["normals"] for row in rows)
