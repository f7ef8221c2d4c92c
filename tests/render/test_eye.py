"""The procedural eye: analytic iris area, lid occlusion, gaze direction, keypoints on masks, the render_eye source,
and its statistics against the real MMU iris set."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from fakevision.core.sample import OCCLUDED, VISIBLE, boxes_from_masks
from fakevision.core.source import build_source, make_sample, source_types
from fakevision.render import Camera, intrinsics, look_at
from fakevision.render.eye import EyeSpec, eye_camera, render_eye, sample_eye
from fakevision.render.iris_stats import mmu_statistics, rendered_statistics
from fakevision.render.source import RenderEyeConfig

WIDE_OPEN = EyeSpec(upper_lid=0.0095, lower_lid=0.0095, half_width=0.0125, highlight=0.0, occlusion=0.0)


def _front_camera(dist: float = 0.08, f: float = 900.0, size: tuple[int, int] = (200, 160)) -> Camera:
    W, H = size
    return Camera(intrinsics(f, f, W / 2, H / 2), look_at(np.array([0.0, 0.0, dist]), np.zeros(3),
                                                            up=np.array([0.0, 1.0, 0.0])), W, H, 0.005, 1.0)


def test_iris_and_pupil_areas_match_their_projected_discs() -> None:
    cam = _front_camera()
    s = render_eye(WIDE_OPEN, cam)
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


def test_lid_hides_the_top_of_the_iris() -> None:
    spec = dataclasses.replace(WIDE_OPEN, upper_lid=0.003)  # lid margin 3 mm above centre, iris radius 6 mm
    s = render_eye(spec, _front_camera())
    a = s.annotations
    iris = a.masks[0]
    kp, vis = a.keypoints[0], a.visibility[0]
    top = 2  # mid-iris point at 90 degrees: +y, image up, 4.1 mm above the centre
    assert vis[top] == OCCLUDED and a.label_map[int(kp[top, 1]), int(kp[top, 0])] == 1  # on the skin
    assert vis[6] == VISIBLE  # bottom point, lower lid is wide open
    rows = np.flatnonzero(iris.any(axis=1))
    wide = np.flatnonzero(render_eye(WIDE_OPEN, _front_camera()).annotations.masks[0].any(axis=1))
    assert rows[0] > wide[0] + 10  # the iris starts lower


def test_gaze_moves_the_pupil_the_right_way() -> None:
    cam = _front_camera()
    centre = {}
    for yaw in (-0.3, 0.0, 0.3):
        m = render_eye(dataclasses.replace(WIDE_OPEN, gaze=(yaw, 0.0)), cam).annotations.masks[1]
        centre[yaw] = np.nonzero(m)[1].mean()
    assert centre[-0.3] < centre[0.0] - 10 and centre[0.3] > centre[0.0] + 10


def test_random_eyes_keep_the_contract() -> None:
    for i in range(6):
        rng = np.random.default_rng(100 + i)
        spec = sample_eye(rng)
        s = render_eye(spec, eye_camera(rng, 160, 120, spec=spec))
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
    img = a.image.astype(int)
    assert np.abs(img[..., 0] - img[..., 1]).max() <= 0 and np.abs(img[..., 0] - img[..., 2]).max() <= 0


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


def test_eye_normals_are_unit_and_face_the_camera() -> None:
    """Normals exist wherever there is a surface (but the one-pixel rims of each body), nowhere else, are unit
    length and face the camera."""
    from fakevision.render.eye import EyeSpec, eye_camera, render_eye

    cam = eye_camera(np.random.default_rng(3), 160, 120)
    s = render_eye(EyeSpec(), cam)
    n, depth = s.annotations.normals, s.annotations.depth
    assert n is not None and n.shape == (120, 160, 3)
    length = np.linalg.norm(n, axis=-1)
    surface = length > 0.5
    assert np.allclose(length[surface], 1.0, atol=1e-4) and not surface[depth == 0].any()
    assert surface.sum() > 0.8 * (depth > 0).sum()
    pts = cam.backproject(depth)  # world points; rays from the camera centre
    rays = cam.world_to_camera[:3, :3] @ (pts[surface] - cam.position).T
    assert (np.einsum("ij,ji->i", n[surface], rays) < 0).mean() > 0.99
