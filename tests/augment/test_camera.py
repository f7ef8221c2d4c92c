"""A rendered sample stays a valid pinhole camera through every geometric op: ``extras["camera"]`` (K, pose, size)
is updated with the pixels, so depth reprojected with the new camera lands on the same 3D points, and a fresh
render from the new camera agrees with the augmented one."""

from __future__ import annotations

import numpy as np
import pytest

from fakevision.augment import Compose, HorizontalFlip, RandomResizedCrop, Rotate, Zoom
from fakevision.augment.crops import CenterCrop, CropAroundObject, LongestMaxSize, PadIfNeeded, Resize
from fakevision.core import Sample
from tests.augment.helpers import GEOMETRIC, NONRIGID


@pytest.fixture(scope="module")
def rendered() -> tuple[object, Sample]:
    from fakevision.render import render_scene, sample_camera, sample_scene
    from fakevision.render.backends import get_backend

    rng = np.random.default_rng(3)
    scene = get_backend().settle(sample_scene(rng))
    return scene, render_scene(scene, sample_camera(rng, 80, 64), settle=False, renderer="raycast")


def camera_of(sample: Sample):  # noqa: ANN201
    from fakevision.render import Camera

    c = sample.annotations.extras["camera"]
    return Camera(np.asarray(c["K"]), np.asarray(c["world_to_camera"]), c["width"], c["height"], c["near"], c["far"])


def world_points(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """World points of every pixel with depth (back-projected through the sample's own camera) and that mask."""
    cam = camera_of(sample)
    d = sample.annotations.depth
    return cam.backproject(d), d > 0


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
def test_depth_reprojects_through_the_new_camera(name: str, rendered: tuple[object, Sample]) -> None:
    """Every output pixel with depth, back-projected with the *new* camera, is the 3D point that the source pixel
    it was copied from (nearest neighbour) shows through the *old* camera; z is the stored depth."""
    _, s = rendered
    op = GEOMETRIC[name]()
    for seed in range(3):
        params = op.sample_params(np.random.default_rng(seed), s)
        out = op.apply(s, params)
        c = out.annotations.extras["camera"]
        assert (c["height"], c["width"]) == (out.height, out.width)
        pts_new, has = world_points(out)
        old = camera_of(s)
        uv, z = old.project(pts_new[has])
        np.testing.assert_allclose(z, out.annotations.depth[has], rtol=1e-6)  # depth is z in both cameras
        m = op.matrix(params, s.height, s.width)
        yy, xx = np.mgrid[0:out.height, 0:out.width] + 0.5
        src = np.stack([xx[has], yy[has]], -1) @ np.linalg.inv(m)[:2, :2].T + np.linalg.inv(m)[:2, 2]
        np.testing.assert_allclose(uv, src, atol=1e-5)  # ... and projects to where the warp sampled
        # the depth copied there is the original depth of that source pixel (nearest neighbour; a sample point
        # exactly on a pixel edge may take either side, and OpenCV's fixed-point coordinates see near-ties as ties)
        d = out.annotations.depth[has]
        same = np.zeros(len(d), bool)
        for e in (-1e-3, 0.0, 1e-3):
            col = np.clip(np.floor(src[:, 0] + e).astype(int), 0, s.width - 1)
            for f in (-1e-3, 0.0, 1e-3):
                row = np.clip(np.floor(src[:, 1] + f).astype(int), 0, s.height - 1)
                same |= s.annotations.depth[row, col] == d
        assert same.all()


@pytest.mark.parametrize("op", [
    Zoom(scale=1.4), Rotate(angle=25.0), RandomResizedCrop(height=40, width=56, scale=(0.3, 0.6)),
    CropAroundObject(margin=0.3, height=48, width=48), Resize(height=48, width=96), CenterCrop(height=40, width=40),
    Compose([LongestMaxSize(max_size=60), PadIfNeeded(min_height=60, min_width=60)]),
], ids=lambda op: repr(op).split("(")[0] if not isinstance(op, Compose) else "letterbox")
def test_a_fresh_render_from_the_new_camera_matches(op: object, rendered: tuple[object, Sample]) -> None:
    """The augmented depth is what the renderer gives when asked to render the scene from the new camera."""
    from fakevision.render import render_scene

    scene, s = rendered
    out = op(s, np.random.default_rng(1))  # type: ignore[operator]
    cam = camera_of(out)
    fresh = render_scene(scene, cam, settle=False, renderer="raycast").annotations.depth
    got = out.annotations.depth
    both = (fresh > 0) & (got > 0)
    assert both.mean() > 0.5
    rel = np.abs(fresh[both] - got[both]) / fresh[both]
    # nearest-neighbour resampling moves each depth by up to half a source pixel: a few % at object edges
    assert np.median(rel) < 0.005 and np.mean(rel < 0.02) > 0.9


def test_a_mirror_keeps_projection_exact_and_says_so_in_the_pose(rendered: tuple[object, Sample]) -> None:
    _, s = rendered
    out = HorizontalFlip(p=1.0)(s, np.random.default_rng(0))
    c = out.annotations.extras["camera"]
    assert np.linalg.det(np.asarray(c["world_to_camera"])[:3, :3]) == pytest.approx(-1.0)
    assert c["K"][0][0] > 0  # the focal length stays positive: the mirror is in the pose


@pytest.mark.parametrize("name", sorted(NONRIGID))
def test_non_rigid_ops_keep_a_best_fit_camera_and_say_how_far_off_it_is(name: str,
                                                                         rendered: tuple[object, Sample]) -> None:
    _, s = rendered
    op = NONRIGID[name]()
    params = op.sample_params(np.random.default_rng(0), s)
    out = op.apply(s, params)
    c = out.annotations.extras["camera"]
    err = c["pinhole_error_px"]
    assert 0 < err < max(s.height, s.width)
    # where the new camera puts a world point vs where the warp put its pixel: within the stated error
    pts, has = world_points(s)
    idx = np.flatnonzero(has.ravel())[::37]
    yy, xx = np.mgrid[0:s.height, 0:s.width] + 0.5
    src = np.stack([xx.ravel()[idx], yy.ravel()[idx]], -1)
    moved, found = op.dense_map(params, s.height, s.width).forward_points(src)
    inside = found & (moved[:, 0] >= 0) & (moved[:, 0] <= s.width) & (moved[:, 1] >= 0) & (moved[:, 1] <= s.height)
    uv, _ = camera_of(out).project(pts.reshape(-1, 3)[idx])
    assert inside.mean() > 0.8 and np.all(np.linalg.norm(uv - moved, axis=1)[inside] <= err + 1e-6)
