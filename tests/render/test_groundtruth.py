"""Ground truth against analytic answers and against itself: sphere areas, two-view depth consistency, masks vs
boxes vs keypoints, occlusion, normals."""

from __future__ import annotations

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
from fakevision.render.scene import quat_to_matrix

NO_SHADOW = Light(shadows=False)


@pytest.mark.parametrize("dist,radius", [(1.0, 0.1), (2.5, 0.3), (0.6, 0.15)])
def test_sphere_mask_area_matches_projected_disc(dist: float, radius: float) -> None:
    f, W = 200.0, 160
    cam = Camera(intrinsics(f, f, W / 2, W / 2), look_at(np.array([0.0, -dist, 0.0]), np.zeros(3)), W, W)
    scene = Scene(objects=(ObjectSpec("sphere", (2 * radius,) * 3, (0.0, 0.0, 0.0)),),
                  ground=Ground(visible=False), light=NO_SHADOW)
    _, gt = render_ground_truth(scene, cam, settle=False)
    rho = f * radius / np.sqrt(dist**2 - radius**2)  # silhouette of a sphere on the optical axis: a circle
    expected = np.pi * rho**2
    area = gt.masks[0].sum()
    assert abs(area - expected) / expected < 0.03, (area, expected)
    # The amodal box is the analytic disc's box (the sampled hull points are within 0.1 % of it).
    np.testing.assert_allclose(gt.amodal_boxes[0], [W / 2 - rho, W / 2 - rho, W / 2 + rho, W / 2 + rho], atol=0.2)


def _random_view(seed: int, n_objects: tuple[int, int] = (4, 6)) -> tuple[Scene, Camera, object]:
    rng = np.random.default_rng(seed)
    scene = get_backend().settle(sample_scene(rng, SceneOptions(objects=n_objects)))
    cam = sample_camera(rng, 128, 128)
    ids = {"box": 1, "sphere": 2, "cylinder": 3}
    buf = get_backend().render(scene, cam)
    return scene, cam, (buf, compute_ground_truth(scene, cam, buf, ids))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_boxes_keypoints_agree(seed: int) -> None:
    scene, cam, (buf, gt) = _random_view(seed)
    assert gt.masks.shape[0] >= 1
    assert np.all(gt.masks.sum(axis=(1, 2)) > 0)  # no empty instance survives
    # Visible box = tight box of the mask (exactly here; the contract allows +-1).
    np.testing.assert_allclose(gt.boxes, boxes_from_masks(gt.masks))
    # The amodal box contains the visible box.
    assert np.all(gt.amodal_boxes[:, :2] <= gt.boxes[:, :2] + 1)
    assert np.all(gt.amodal_boxes[:, 2:] >= gt.boxes[:, 2:] - 1)
    # Every visible keypoint lies on its object's mask; masks are disjoint.
    assert gt.masks.sum(axis=0).max() <= 1
    for m, kp, v in zip(gt.masks, gt.keypoints, gt.visibility, strict=True):
        for (x, y), vis in zip(kp, v, strict=True):
            if vis == VISIBLE:
                assert m[int(np.floor(y)), int(np.floor(x))]
    # The label map is the union of the masks coloured by class.
    for n, i in enumerate(gt.object_indices):
        cls = {"box": 1, "sphere": 2, "cylinder": 3}[scene.objects[i].category]
        assert np.all(gt.label_map[gt.masks[n]] == cls)
    assert np.all(gt.label_map[~gt.masks.any(axis=0)] == 0)


@pytest.mark.parametrize("renderer", ["raycast", "pybullet"])
def test_ground_truth_equals_the_per_object_definition(renderer: str) -> None:
    """``compute_ground_truth`` works on the whole mask stack at once and remembers each scene's keypoints and hull
    points (several views per scene): the same arrays and attributes, bit for bit, as the plain per-object
    definition (one full-frame comparison, projection and test per object), whatever ``min_pixels`` drops and with
    amodal masks."""
    from fakevision.render.groundtruth import (
        amodal_box,
        keypoint_visibility,
        project_keypoints,
    )

    ids = {"box": 1, "sphere": 2, "cylinder": 3}
    rng = np.random.default_rng(11)
    backend = get_backend(renderer)
    for k in range(4):
        scene = get_backend().settle(sample_scene(rng, SceneOptions(objects=(3, 6))))
        for view in range(2):  # a second view of the same scene goes through the remembered geometry
            cam = sample_camera(rng, 96, 72)
            buf = backend.render(scene, cam, "analytic")
            amodal_in = backend.render_amodal(scene, cam) if view else None
            min_pixels = 40 if k % 2 else 1
            gt = compute_ground_truth(scene, cam, buf, ids, min_pixels=min_pixels, amodal_masks=amodal_in)
            keep = [i for i in range(len(scene.objects)) if int((buf.instance == i).sum()) >= min_pixels]
            assert gt.object_indices == keep
            masks = np.stack([buf.instance == i for i in keep]) if keep else np.zeros((0, 72, 96), bool)
            np.testing.assert_array_equal(gt.masks, masks)
            np.testing.assert_array_equal(gt.boxes, boxes_from_masks(masks))
            label_map = np.zeros((72, 96), np.int32)
            for n, i in enumerate(keep):
                obj = scene.objects[i]
                uv, z, ok = project_keypoints(obj, cam)
                vis = keypoint_visibility(uv, z, ok, i, cam, buf)
                np.testing.assert_array_equal(gt.visibility[n], vis)
                np.testing.assert_array_equal(gt.keypoints[n], np.where(ok[:, None] & np.isfinite(uv), uv, 0.0))
                box, truncated = amodal_box(obj, cam)
                np.testing.assert_array_equal(gt.amodal_boxes[n], box)
                attrs = gt.instance_attributes[n]
                assert attrs["truncated"] == truncated and attrs["area"] == int(masks[n].sum())
                assert type(attrs["area"]) is int
                if amodal_in is not None:
                    assert attrs["amodal_area"] == int((amodal_in[i] | masks[n]).sum())
                label_map[masks[n]] = ids[obj.category]
            np.testing.assert_array_equal(gt.label_map, label_map)


def test_keypoints_hidden_behind_another_object_are_occluded() -> None:
    """A box stands between the camera and a cylinder's near side: the cylinder's keypoints that project onto the
    box get visibility 1, the ones in the open get 2."""
    cam = Camera(intrinsics(150, 150, 64, 64), look_at(np.array([0.0, -1.0, 0.3]), np.array([0.0, 0.0, 0.1])),
                 128, 128)
    wall = ObjectSpec("box", (0.17, 0.02, 0.4), (-0.115, -0.3, 0.2))  # hides the cylinder's x < -0.04
    cyl = ObjectSpec("cylinder", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1))
    scene = Scene(objects=(wall, cyl), ground=Ground(visible=False), light=NO_SHADOW)
    _, gt = render_ground_truth(scene, cam, settle=False)
    n = gt.object_indices.index(1)
    kp, vis = gt.keypoints[n], gt.visibility[n]
    wall_mask = gt.masks[gt.object_indices.index(0)]
    on_wall = [wall_mask[int(y), int(x)] for x, y in kp]
    assert any(on_wall) and not all(on_wall)
    for hidden, v in zip(on_wall, vis, strict=True):
        if hidden:
            assert v == OCCLUDED
    assert vis[6] == OCCLUDED  # top rim at 180 degrees (-x): behind the wall
    assert vis[9] == VISIBLE and vis[7] == VISIBLE  # top cap centre, top rim at 270 degrees (facing the camera)
    assert vis[1] == OCCLUDED  # self-occlusion: bottom rim at 90 degrees (+y) is behind the cylinder's body


@pytest.mark.parametrize("renderer", ["pybullet", "raycast"])
def test_depth_from_two_viewpoints_reprojects_consistently(renderer: str) -> None:
    """Back-project view a's depth, project into view b, compare with b's depth interpolated there: points both
    cameras see agree to 0.2 %; the others are hidden in b (b sees something nearer); none lies behind b's surface."""
    import cv2

    rng = np.random.default_rng(11)
    backend = get_backend(renderer)
    scene = get_backend().settle(sample_scene(rng, SceneOptions(objects=(5, 5))))
    K = intrinsics(140.0, 140.0, 80.0, 60.0)
    target = np.array([0.0, 0.0, 0.05])
    a, b = (Camera(K, look_at(target + 1.3 * np.array([np.cos(az) * 0.75, np.sin(az) * 0.75, 0.66]), target),
                   160, 120) for az in (0.4, 1.0))
    da, rb = backend.render(scene, a).depth, backend.render(scene, b)
    db, ib = rb.depth, rb.instance.astype(np.float32)
    uv, z = b.project(a.backproject(da)[da > 0])
    inside = np.all(np.isfinite(uv), axis=1) & (uv[:, 0] >= 1) & (uv[:, 0] < b.width - 1) & (uv[:, 1] >= 1) & (
        uv[:, 1] < b.height - 1)
    uv, z = uv[inside].astype(np.float32), z[inside]
    # b's depth at the exact sub-pixel position: bilinear in 1/z, which is affine in screen space on a plane, so
    # exact wherever the 2x2 pixels around the position are one planar patch of one surface (their bilinear
    # cross term vanishes); OpenCV addresses pixel centres at integers, hence the 0.5 shift.
    mx, my = uv[:, 0:1] - 0.5, uv[:, 1:2] - 0.5
    inv = np.where(db > 0, 1.0 / np.maximum(db, 1e-9), 0.0).astype(np.float64)
    zb = 1.0 / np.maximum(cv2.remap(inv.astype(np.float32), mx, my, cv2.INTER_LINEAR)[:, 0], 1e-9)
    c, r = np.floor(mx[:, 0]).astype(int), np.floor(my[:, 0]).astype(int)
    same = (ib[r, c] == ib[r, c + 1]) & (ib[r, c] == ib[r + 1, c]) & (ib[r, c] == ib[r + 1, c + 1])
    cross = inv[r, c] - inv[r, c + 1] - inv[r + 1, c] + inv[r + 1, c + 1]
    smooth = same & (inv[r, c] > 0) & (np.abs(cross) < 1e-4 * inv[r, c])
    rel = (z[smooth] - zb[smooth]) / zb[smooth]
    assert len(rel) > 5000
    seen_by_both = np.abs(rel) < 2e-3
    hidden_in_b = rel > 2e-3
    assert seen_by_both.mean() > 0.6, seen_by_both.mean()
    assert (seen_by_both | hidden_in_b).mean() > 0.995, np.sort(rel)[:10]


def test_normals_are_analytic() -> None:
    cam = Camera(intrinsics(200, 200, 64, 64), look_at(np.array([0.4, -0.8, 0.7]), np.array([0.0, 0.0, 0.1])),
                 128, 128)
    q = (0.2, 0.1, 0.3, 0.927)
    q = tuple(np.array(q) / np.linalg.norm(q))
    scene = Scene(objects=(ObjectSpec("sphere", (0.2,) * 3, (0.15, 0.0, 0.1)),
                           ObjectSpec("box", (0.15, 0.1, 0.12), (-0.15, 0.0, 0.1), orientation=q)),
                  ground=Ground(), light=NO_SHADOW)
    _, gt = render_ground_truth(scene, cam, settle=False)
    buf = get_backend().render(scene, cam)
    R = cam.world_to_camera[:3, :3]
    n = gt.normals
    assert np.allclose(np.linalg.norm(n[buf.drawn], axis=1), 1.0, atol=1e-5)
    assert np.all(n[~buf.drawn] == 0)
    ground = buf.drawn & (buf.instance < 0)
    np.testing.assert_allclose(n[ground], np.tile(R @ [0, 0, 1], (ground.sum(), 1)), atol=1e-6)
    # Sphere: normal = direction from the centre to the surface point.
    world = cam.backproject(buf.depth)
    sel = buf.instance == 0
    radial = world[sel] - [0.15, 0.0, 0.1]
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    assert np.mean(np.sum((n[sel] @ R) * radial, axis=1)) > 0.999
    # Box: every normal is one of its six face normals, and faces the camera.
    faces = np.vstack([quat_to_matrix(q).T, -quat_to_matrix(q).T])  # rows: +-x, +-y, +-z in world
    nb = n[buf.instance == 1] @ R
    assert np.all(np.max(nb @ faces.T, axis=1) > 1 - 1e-6)
    assert np.all(np.sum(n[buf.drawn] * cam.rays()[buf.drawn], axis=1) < 0)  # facing the camera


def test_amodal_masks_and_visible_fraction() -> None:
    """Rendering each object alone: the amodal mask contains the visible one, its tight box equals the amodal box
    projected from the 3D geometry (+-1 px), the occluded object's visible fraction is below 1, and the world is
    left exactly as it was."""
    cam = Camera(intrinsics(150, 150, 64, 64), look_at(np.array([0.0, -1.0, 0.3]), np.array([0.0, 0.0, 0.1])),
                 128, 128)
    wall = ObjectSpec("box", (0.17, 0.02, 0.4), (-0.115, -0.3, 0.2))
    cyl = ObjectSpec("cylinder", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1))
    scene = Scene(objects=(wall, cyl), ground=Ground(), light=NO_SHADOW)
    before = get_backend().render(scene, cam)
    _, gt = render_ground_truth(scene, cam, settle=False, amodal_masks=True)
    after = get_backend().render(scene, cam)
    np.testing.assert_array_equal(before.rgb, after.rgb)
    np.testing.assert_array_equal(before.depth, after.depth)
    assert gt.amodal_masks is not None and gt.amodal_masks.shape == gt.masks.shape
    assert np.all(gt.amodal_masks >= gt.masks)
    np.testing.assert_allclose(boxes_from_masks(gt.amodal_masks), gt.amodal_boxes, atol=1.0)
    frac = {gt.object_indices[n]: a["visible_fraction"] for n, a in enumerate(gt.instance_attributes)}
    assert frac[0] == 1.0 and 0.3 < frac[1] < 0.8
    assert gt.instance_attributes[1]["amodal_area"] == int(gt.amodal_masks[1].sum())


# -- the analytic ground (RenderConfig.ground = "analytic") ---------------------------------------------------------
def _analytic_pair(seed: int, shadows: bool) -> tuple[Scene, Camera, object, object]:
    import dataclasses

    rng = np.random.default_rng(seed)
    scene = get_backend().settle(sample_scene(rng, SceneOptions(objects=(4, 6), shadows=shadows)))
    scene = scene.replace(light=dataclasses.replace(scene.light, shadows=shadows))
    cam = sample_camera(rng, 128, 128)
    return scene, cam, get_backend().render(scene, cam, "mesh"), get_backend().render(scene, cam, "analytic")


@pytest.mark.parametrize("seed", [0, 3])
def test_analytic_ground_agrees_with_the_mesh_ground(seed: int) -> None:
    """Same instance buffer pixel for pixel, same depth (within float32 rounding of two computations); the
    ground's depth equals the plane's closed-form ray intersection at every ground pixel (rel. error <= 1e-3)."""
    scene, cam, mesh, ana = _analytic_pair(seed, shadows=False)
    np.testing.assert_array_equal(mesh.instance, ana.instance)
    np.testing.assert_array_equal(mesh.drawn, ana.drawn)
    both = mesh.drawn
    assert np.max(np.abs(mesh.depth[both] - ana.depth[both]) / ana.depth[both]) <= 1e-4
    R = cam.world_to_camera[:3, :3]
    rays_w = cam.rays() @ R
    s = -cam.position[2] / rays_w[..., 2]
    ground = ana.drawn & (ana.instance < 0)
    assert ground.mean() > 0.3
    assert np.max(np.abs(ana.depth[ground] - s[ground]) / s[ground]) <= 1e-3


def test_object_in_front_occludes_the_analytic_ground_and_ground_truth_matches() -> None:
    cam = Camera(intrinsics(150, 150, 64, 64), look_at(np.array([0.0, -1.0, 0.6]), np.array([0.0, 0.0, 0.1])),
                 128, 128)
    scene = Scene(objects=(ObjectSpec("box", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1)),
                           ObjectSpec("sphere", (0.1,) * 3, (0.2, 0.1, -0.02))),  # sunk 7 cm into the ground
                  ground=Ground(), light=NO_SHADOW)
    buf = get_backend().render(scene, cam, "analytic")
    box = buf.instance == 0
    assert box.sum() > 500
    R = cam.world_to_camera[:3, :3]
    s = -cam.position[2] / (cam.rays() @ R)[..., 2]
    assert np.all(buf.depth[box] < s[box])  # the box is nearer than the plane behind it
    sphere = buf.instance == 1
    assert sphere.any() and np.all(buf.depth[sphere] <= s[sphere])  # only its part above the plane shows
    _, a = render_ground_truth(scene, cam, settle=False, ground="analytic")
    _, m = render_ground_truth(scene, cam, settle=False, ground="mesh")
    np.testing.assert_array_equal(a.masks, m.masks)
    np.testing.assert_array_equal(a.visibility, m.visibility)
    np.testing.assert_allclose(a.keypoints, m.keypoints)
    np.testing.assert_allclose(a.boxes, boxes_from_masks(a.masks))


def test_analytic_shadow_changes_ground_pixels_only() -> None:
    import dataclasses

    scene, cam, _, lit = _analytic_pair(2, shadows=False)
    shadowed = get_backend().render(scene.replace(light=dataclasses.replace(scene.light, shadows=True)), cam,
                                    "analytic")
    np.testing.assert_array_equal(lit.instance, shadowed.instance)
    np.testing.assert_array_equal(lit.depth, shadowed.depth)
    changed = np.any(lit.rgb != shadowed.rgb, axis=2)
    assert changed.any()  # some shadow falls in view
    assert not np.any(changed & (lit.instance >= 0))  # never on an object
    assert np.all(shadowed.rgb[changed].astype(int) <= lit.rgb[changed].astype(int))  # shadows only darken


def test_analytic_shadow_sits_on_the_projected_polygon() -> None:
    """``analytic.shadow_mask`` fills the shadow polygon where the image puts it: OpenCV draws at integer pixel
    centres, ours are at +0.5, so vertices are shifted by -0.5 before ``cv2.fillPoly`` (they once were not, and
    every shadow sat half a pixel right of and below its place: a mean centroid offset of (0.50, 0.54) px here).
    The mask's centroid matches the exact polygon's (box corners projected along the light, then into the image)
    to a few hundredths of a pixel on average over random boxes and lights (OpenCV's anti-aliased edges add up to
    ~0.3 px of noise to one box)."""
    import cv2

    from fakevision.render import analytic

    def polygon_centroid(P: np.ndarray) -> np.ndarray:
        x, y = P[:, 0], P[:, 1]
        x1, y1 = np.roll(x, -1), np.roll(y, -1)
        cross = x * y1 - x1 * y
        return np.array([((x + x1) * cross).sum(), ((y + y1) * cross).sum()]) / (3 * cross.sum())

    rng = np.random.default_rng(0)
    cam = Camera(intrinsics(160, 160, 64, 64), look_at(np.array([0.01, 0.02, 1.6]), np.zeros(3),
                                                       up=np.array([0.0, 1.0, 0.0])), 128, 128)
    ys, xs = np.mgrid[0:128, 0:128] + 0.5
    offsets = []
    for _ in range(16):
        a, ext = rng.uniform(0, np.pi), tuple(rng.uniform(0.1, 0.3, 3))
        box = ObjectSpec("box", ext, (rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), ext[2] / 2),
                         orientation=(0.0, 0.0, np.sin(a / 2), np.cos(a / 2)))
        light = Light(direction=(rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6), 1.0), shadows=True)
        mask = analytic.shadow_mask(Scene(objects=(box,), ground=Ground(), light=light), cam)
        l = np.asarray(light.direction) / np.linalg.norm(light.direction)
        P = analytic.object_corners(box)
        uv, _ = cam.project(P - (P[:, 2:3] / l[2]) * l)
        hull = cv2.convexHull(uv.astype(np.float32))[:, 0].astype(np.float64)
        offsets.append(np.array([(mask * xs).sum(), (mask * ys).sum()]) / mask.sum() - polygon_centroid(hull))
    offsets = np.array(offsets)
    assert np.all(np.abs(offsets.mean(axis=0)) < 0.1), offsets.mean(axis=0)
    assert np.abs(offsets).max() < 0.45, np.abs(offsets).max()


def test_analytic_ground_without_objects_and_hidden_ground() -> None:
    cam = Camera(intrinsics(60, 60, 40, 30), look_at(np.array([0.1, 0.2, 1.7]), np.array([0.1, 0.2, 0.0]),
                                                     up=np.array([0.0, 1.0, 0.0])), 80, 60, near=0.05, far=30)
    buf = get_backend().render(Scene(ground=Ground(size=40.0), light=NO_SHADOW), cam, "analytic")
    assert np.all(buf.instance == -1) and np.max(np.abs(buf.depth - 1.7) / 1.7) <= 1e-3
    hidden = Scene(objects=(ObjectSpec("sphere", (0.2,) * 3, (0.1, 0.2, 0.1)),), ground=Ground(visible=False),
                   light=NO_SHADOW)
    a, m = get_backend().render(hidden, cam, "analytic"), get_backend().render(hidden, cam, "mesh")
    np.testing.assert_array_equal(a.rgb, m.rgb)
    with pytest.raises(ValueError, match="ground"):
        get_backend().render(hidden, cam, "plane")
