"""The procedural eye: analytic iris area, lid occlusion, gaze direction, keypoints on masks, the render_eye source,
and its statistics against the real MMU iris set."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from fakevision.core.sample import OCCLUDED, VISIBLE, boxes_from_masks
from fakevision.core.source import build_source, make_sample, source_types
from fakevision.evaluate.iris_stats import mmu_statistics, rendered_statistics
from fakevision.render import Camera, intrinsics, look_at
from fakevision.render.eye import EyeOptions, EyeSpec, eye_camera, render_eye, sample_eye
from fakevision.render.source import RenderEyeConfig

WIDE_OPEN = EyeSpec(upper_lid=0.0095, lower_lid=0.0095, half_width=0.0125, highlight=0.0, occlusion=0.0)


def _front_camera(dist: float = 0.08, f: float = 900.0, size: tuple[int, int] = (200, 160)) -> Camera:
    W, H = size
    return Camera(intrinsics(f, f, W / 2, H / 2), look_at(np.array([0.0, 0.0, dist]), np.zeros(3),
                                                            up=np.array([0.0, 1.0, 0.0])), W, H, 0.005, 1.0)


RENDERERS = pytest.mark.parametrize("renderer", ["raycast", "pybullet"])


@RENDERERS
def test_iris_and_pupil_areas_match_their_projected_discs(renderer: str) -> None:
    cam = _front_camera()
    s = render_eye(WIDE_OPEN, cam, renderer=renderer)
    a = s.annotations
    assert a.categories == ["iris", "pupil"]
    d = cam.position[2] - WIDE_OPEN.limbus_z()  # the iris plane faces the camera squarely
    f = cam.K[0, 0]
    ri, rp = f * WIDE_OPEN.iris_radius / d, f * WIDE_OPEN.pupil_radius / d
    iris, pupil = a.masks
    assert abs(iris.sum() - np.pi * (ri**2 - rp**2)) / (np.pi * (ri**2 - rp**2)) < 0.02
    assert abs(pupil.sum() - np.pi * rp**2) / (np.pi * rp**2) < 0.03
    assert not (iris & pupil).any()
    np.testing.assert_array_equal(iris, a.label_map == 3)
    np.testing.assert_array_equal(pupil, a.label_map == 4)
    np.testing.assert_allclose(a.boxes, boxes_from_masks(a.masks))
    assert np.all(a.visibility == VISIBLE)  # nothing covers the mid-ring points of a wide-open, straight eye


@RENDERERS
def test_lid_hides_the_top_of_the_iris(renderer: str) -> None:
    spec = dataclasses.replace(WIDE_OPEN, upper_lid=0.003)  # lid margin 3 mm above centre, iris radius 6 mm
    s = render_eye(spec, _front_camera(), renderer=renderer)
    a = s.annotations
    iris = a.masks[0]
    kp, vis = a.keypoints[0], a.visibility[0]
    top = 2  # mid-iris point at 90 degrees: +y, image up, 4.1 mm above the centre
    assert vis[top] == OCCLUDED and a.label_map[int(kp[top, 1]), int(kp[top, 0])] == 1  # on the skin
    assert vis[6] == VISIBLE  # bottom point, lower lid is wide open
    rows = np.flatnonzero(iris.any(axis=1))
    wide = np.flatnonzero(render_eye(WIDE_OPEN, _front_camera(), renderer=renderer).annotations.masks[0].any(axis=1))
    assert rows[0] > wide[0] + 10  # the iris starts lower


@RENDERERS
def test_gaze_moves_the_pupil_the_right_way(renderer: str) -> None:
    cam = _front_camera()
    centre = {}
    for yaw in (-0.3, 0.0, 0.3):
        m = render_eye(dataclasses.replace(WIDE_OPEN, gaze=(yaw, 0.0)), cam, renderer=renderer).annotations.masks[1]
        centre[yaw] = np.nonzero(m)[1].mean()
    assert centre[-0.3] < centre[0.0] - 10 and centre[0.3] > centre[0.0] + 10


@RENDERERS
def test_random_eyes_keep_the_contract(renderer: str) -> None:
    for i in range(6):
        rng = np.random.default_rng(100 + i)
        spec = sample_eye(rng)
        s = render_eye(spec, eye_camera(rng, 160, 120, spec=spec), renderer=renderer)
        a = s.annotations
        for m, kp, v in zip(a.masks, a.keypoints, a.visibility, strict=True):
            assert m.any()
            for (x, y), vis in zip(kp, v, strict=True):
                if vis == VISIBLE:
                    assert m[int(y), int(x)]
        assert (a.depth[a.label_map > 0] > 0).all()


def test_render_eye_source_is_registered_reproducible_and_nir_is_grey() -> None:
    assert source_types()["render_eye"].config is RenderEyeConfig
    cfg = RenderEyeConfig(type="render_eye", count=4, width=96, height=72, appearance="nir")
    src = build_source(cfg, Path("."))
    a, b = make_sample(src, 2, 0), make_sample(src, 2, 0)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.annotations.masks, b.annotations.masks)
    assert a.provenance.sample_id == "render_eye-000002" and "eye" in a.provenance.params
    assert a.provenance.params["renderer"] == "raycast"  # what auto picks, recorded
    img = a.image.astype(int)
    assert np.abs(img[..., 0] - img[..., 1]).max() <= 0 and np.abs(img[..., 0] - img[..., 2]).max() <= 0


def test_render_eye_source_renderer_choice() -> None:
    """``renderer:`` picks the backend (recorded in provenance); unknown names fail validation, a backend that
    cannot draw mesh bodies fails at build time in one line."""
    cfg = RenderEyeConfig(type="render_eye", count=2, width=64, height=48, degrade="none", renderer="pybullet")
    s = make_sample(build_source(cfg, Path(".")), 0, 0)
    assert s.provenance.params["renderer"] == "pybullet"
    with pytest.raises(ValueError, match="unknown renderer 'tinyrenderer'"):
        RenderEyeConfig(type="render_eye", count=2, renderer="tinyrenderer")
    from fakevision.core.errors import RecipeError
    from fakevision.render.backends import BACKENDS, register_backend

    class _ScenesOnly:
        name = "scenes-only"

    register_backend("scenes-only", lambda: _ScenesOnly())
    try:
        with pytest.raises(RecipeError, match="renderer scenes-only cannot draw the eye's mesh bodies"):
            build_source(RenderEyeConfig(type="render_eye", count=2, renderer="scenes-only"), Path("."))
    finally:
        del BACKENDS["scenes-only"]


def _both(spec: EyeSpec, cam: Camera) -> tuple:
    return render_eye(spec, cam, renderer="pybullet"), render_eye(spec, cam, renderer="raycast")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_raycast_and_pybullet_draw_the_same_eye(seed: int) -> None:
    """The same eye and camera drawn by both backends. Both sample the same pixel centres of the same triangles
    with the same texture lookup and light model, so the masks agree but for pixel centres within TinyRenderer's
    float32 rounding of an edge (IoU >= 0.99; measured 1.0 on 80 eyes), keypoints are identical (projected
    analytically) and so is their visibility (a depth test on buffers that agree), depth agrees to TinyRenderer's
    float32 depth buffer (1e-4 relative; measured 2e-6), and the RGB to a grey level at a few pixels."""
    rng = np.random.default_rng(200 + seed)
    spec = sample_eye(rng, EyeOptions(appearance="nir" if seed % 2 else "visible"))
    cam = eye_camera(rng, 160, 120, spec=spec)
    pb, rc = _both(spec, cam)
    a, b = pb.annotations, rc.annotations
    assert a.categories == b.categories
    for m1, m2 in zip(a.masks, b.masks, strict=True):
        assert (m1 & m2).sum() / (m1 | m2).sum() >= 0.99
    assert (a.label_map == b.label_map).mean() >= 0.999
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert (a.visibility == b.visibility).mean() >= 0.95
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1.0)
    both = (a.depth > 0) & (b.depth > 0)
    assert both.mean() > 0.99
    assert np.abs(a.depth[both] - b.depth[both]).max() <= 1e-4 * b.depth[both].max()
    diff = np.abs(pb.image.astype(int) - rc.image.astype(int))
    assert diff.mean() <= 0.05 and (diff > 1).mean() <= 1e-3
    # Normals: the raycast backend's come from the meshes, pybullet's from the depth; both describe one surface.
    ok = (np.linalg.norm(a.normals, axis=-1) > 0.5) & (b.label_map > 0)
    cos = np.einsum("ij,ij->i", a.normals[ok], b.normals[ok])
    assert np.median(cos) > 0.999 and (cos > 0.95).mean() > 0.97


def test_raycast_and_pybullet_eyes_have_the_same_iris_statistics() -> None:
    """The look tuned against real MMU irises survives the change of renderer: every ``iris_stats`` statistic of
    the same NIR eyes agrees to within 0.05 grey levels (and 1e-3 for contrasts)."""
    stats = {r: rendered_statistics(6, appearance="nir", degrade="none", width=160, height=120, renderer=r)
             for r in ("pybullet", "raycast")}
    for key in ("iris_mean", "iris_std", "pupil_mean", "surround_mean"):
        assert abs(stats["pybullet"][key]["mean"] - stats["raycast"][key]["mean"]) <= 0.05, key
    for key in ("contrast_surround", "contrast_pupil", "diameter_frac"):
        assert abs(stats["pybullet"][key]["mean"] - stats["raycast"][key]["mean"]) <= 1e-3, key


def test_nir_eyes_resemble_mmu(shared_data: Path) -> None:
    """The NIR eyes' iris brightness and iris-to-surround contrast sit near MMU's (the calibration the
    appearance was tuned with; a regression guard, compared on small subsets)."""
    mmu = mmu_statistics(shared_data / "mmu_iris_masks" / "mmu_iris_images_and_masks.tar.xz", limit=25)
    ours = rendered_statistics(12, appearance="nir", degrade="none", width=160, height=120,
                               iris_diameter_px=(50.0, 62.0))
    assert mmu["n_with_iris"] == 25 and ours["n_with_iris"] == 12
    assert abs(ours["iris_mean"]["mean"] - mmu["iris_mean"]["mean"]) < 25
    assert abs(ours["contrast_surround"]["mean"] - mmu["contrast_surround"]["mean"]) < 0.1
    assert abs(ours["diameter_frac"]["mean"] - mmu["diameter_frac"]["mean"]) < 0.06


@RENDERERS
def test_eye_normals_are_unit_and_face_the_camera(renderer: str) -> None:
    """Normals exist wherever there is a surface (pybullet's, from the depth: but the one-pixel rims of each body;
    raycast's, from the meshes: everywhere drawn), nowhere else, are unit length and face the camera."""
    cam = eye_camera(np.random.default_rng(3), 160, 120)
    s = render_eye(EyeSpec(), cam, renderer=renderer)
    n, depth = s.annotations.normals, s.annotations.depth
    assert n is not None and n.shape == (120, 160, 3)
    length = np.linalg.norm(n, axis=-1)
    surface = length > 0.5
    assert np.allclose(length[surface], 1.0, atol=1e-4) and not surface[depth == 0].any()
    assert surface.sum() > (0.8 if renderer == "pybullet" else 1.0) * (depth > 0).sum() - 1e-9
    assert np.all(length[~surface] == 0)
    pts = cam.backproject(depth)  # world points; rays from the camera centre
    rays = cam.world_to_camera[:3, :3] @ (pts[surface] - cam.position).T
    assert (np.einsum("ij,ji->i", n[surface], rays) < 0).mean() > 0.99
