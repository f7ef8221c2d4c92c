"""Property tests parametrised over every op (as Albumentations' suite is): geometry moves every annotation by
the analytic map, photometric ops leave annotations alone, the same seed gives the same bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakevision.augment import HorizontalFlip, VerticalFlip
from fakevision.augment.config import OPS
from fakevision.augment.functional.geometry import transform_points
from fakevision.core.keypoints import get_schema
from fakevision.core.sample import boxes_from_masks
from tests.augment.helpers import GEOMETRIC, NONRIGID, PHOTOMETRIC, analytic, random_sample

ALL = {**GEOMETRIC, **NONRIGID, **PHOTOMETRIC}
# database=None: no .hypothesis folder written into the working tree (tests run in parallel, in CI too)
PROPS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
seeds = st.integers(0, 2**31 - 1)


def test_every_registered_op_is_covered() -> None:
    containers = {"Compose", "OneOf", "SomeOf", "ClassConditional"}
    assert {name.split(":")[0] for name in ALL} == set(OPS) - containers


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
@PROPS
@given(seed=seeds, h=st.integers(12, 48), w=st.integers(12, 48))
def test_geometric_keypoints_match_analytic(name: str, seed: int, h: int, w: int) -> None:
    s = random_sample(seed, h, w)
    op = GEOMETRIC[name]()
    rng = np.random.default_rng(seed)
    params = op.sample_params(rng, s)
    out = op.apply(s, params)
    a = s.annotations
    expected = analytic(name, params, h, w, a.keypoints)
    oh, ow = out.height, out.width
    exp_vis = np.where((expected[..., 0] >= 0) & (expected[..., 0] < ow) & (expected[..., 1] >= 0)
                       & (expected[..., 1] < oh), a.visibility, 0)
    if np.linalg.det(op.matrix(params, h, w)[:2, :2]) < 0:  # mirror: names swap
        perm = np.asarray(get_schema("ibug68").flip_perm)
        expected[:, perm], exp_vis[:, perm] = expected.copy(), exp_vis.copy()
    kept = out.annotations.num_instances
    if kept == a.num_instances:
        np.testing.assert_allclose(out.annotations.keypoints, expected, atol=0.01)
        np.testing.assert_array_equal(out.annotations.visibility, exp_vis)


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
@PROPS
@given(seed=seeds)
def test_pixels_move_with_the_keypoints(name: str, seed: int) -> None:
    """A smooth blob centred on a keypoint ends up centred on the moved keypoint: catches half-pixel errors
    between the pixel warp (OpenCV, centres at integers) and the annotation warp (corner convention). The blob is
    placed where the op's output centre comes from, and made wide enough to stay well sampled after the op's
    scaling (>= 1.5 px in the output), so crops and resizes keep it whole."""
    h, w = 64, 80
    s = random_sample(seed, h, w, n=1, k=68)
    rng = np.random.default_rng(seed)
    op = GEOMETRIC[name]()
    params = op.sample_params(rng, s)
    if "scale" in params:
        params["scale"] = float(np.clip(params["scale"], 0.8, 1.3))  # keep the blob in the frame, well sampled
    m = op.matrix(params, h, w)
    oh, ow = op.output_size(params, h, w)
    target = np.array([ow / 2, oh / 2]) + rng.uniform(-0.1, 0.1, 2) * [ow, oh]
    cx, cy = transform_points(np.linalg.inv(m), target)
    sigma = 1.5 / min(1.0, np.sqrt(abs(np.linalg.det(m[:2, :2]))))
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    img = np.repeat(blob.astype(np.float32)[:, :, None], 3, axis=2)
    kp = s.annotations.keypoints.copy()
    kp[0, 30] = [cx, cy]  # nose tip: its own mirror partner, so the index is stable under flips
    # the whole frame as the instance (no mask), so a crop that misses the random mask cannot drop the keypoints
    s = s.replace(image=img, annotations=s.annotations.replace(keypoints=kp, masks=None, boxes=[[0, 0, w, h]]))
    out = op.apply(s, params)
    g = out.image[:, :, 0].astype(np.float64)
    yy, xx = np.mgrid[0:out.height, 0:out.width] + 0.5
    px, py = (g * xx).sum() / g.sum(), (g * yy).sum() / g.sum()
    np.testing.assert_allclose(out.annotations.keypoints[0, 30], [px, py], atol=0.05)


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
@PROPS
@given(seed=seeds)
def test_box_is_the_tight_box_of_the_warped_mask(name: str, seed: int) -> None:
    s = random_sample(seed, 40, 56, n=3)
    op = GEOMETRIC[name]()
    out = op(s, np.random.default_rng(seed))
    a = out.annotations
    np.testing.assert_array_equal(a.boxes, boxes_from_masks(a.masks))
    hw = (out.height, out.width)
    assert a.masks.shape[1:] == hw and a.label_map.shape == hw and a.depth.shape == hw
    assert np.all((a.boxes[:, 2] > a.boxes[:, 0]) & (a.boxes[:, 3] > a.boxes[:, 1])), "empty instances dropped"
    # label map and masks are warped by the same nearest-neighbour sampling: label i+1 lies inside mask i
    for j, c in enumerate(a.categories):
        i = int(c[1:])
        assert not np.any((a.label_map == i + 1) & ~a.masks[j])
    assert set(np.unique(a.label_map)) <= {0, 1, 2, 3}
    assert set(np.unique(a.depth)) <= set(np.unique(s.annotations.depth)) | {0.0}  # nearest: values copied
    assert a.normals.shape == (*hw, 3)
    length = np.linalg.norm(a.normals, axis=2)
    assert np.all((np.abs(length - 1) < 1e-5) | (length == 0)), "normals stay unit (or zero: no surface)"
    # normals are resampled like the label map: a surface normal exactly where an instance landed
    assert np.array_equal(length > 0, a.label_map > 0)


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
def test_boxes_without_masks_use_the_moved_corners(name: str) -> None:
    s = random_sample(3, 40, 56, n=2)
    a = s.annotations
    s = s.replace(annotations=a.replace(masks=None))
    op = GEOMETRIC[name]()
    params = op.sample_params(np.random.default_rng(3), s)
    out = op.apply(s, params).annotations
    x0, y0, x1, y1 = a.boxes.T
    corners = np.stack([np.stack(c, -1) for c in [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]], 1)
    moved = analytic(name, params, 40, 56, corners)
    exp = np.concatenate([moved.min(1), moved.max(1)], 1)
    oh, ow = op.output_size(params, 40, 56)
    exp[:, [0, 2]] = exp[:, [0, 2]].clip(0, ow)
    exp[:, [1, 3]] = exp[:, [1, 3]].clip(0, oh)
    keep = (exp[:, 2] > exp[:, 0]) & (exp[:, 3] > exp[:, 1])
    np.testing.assert_allclose(out.boxes, exp[keep], atol=1e-9)


@pytest.mark.parametrize("flip", [HorizontalFlip, VerticalFlip])
@PROPS
@given(seed=seeds)
def test_flip_twice_is_identity_names_included(flip: type, seed: int) -> None:
    s = random_sample(seed, 30, 44)
    op = flip(p=1.0)
    once = op(s, np.random.default_rng(0))
    twice = op(once, np.random.default_rng(0))
    a, b = s.annotations, twice.annotations
    np.testing.assert_array_equal(twice.image, s.image)
    np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-12)
    np.testing.assert_array_equal(b.visibility, a.visibility)
    np.testing.assert_array_equal(b.masks, a.masks)
    np.testing.assert_array_equal(b.boxes, a.boxes)
    np.testing.assert_array_equal(b.label_map, a.label_map)
    np.testing.assert_array_equal(b.depth, a.depth)
    np.testing.assert_array_equal(b.normals, a.normals)
    # once: the subject's right eye (image left) is now drawn where the left eye was, and renamed
    names = get_schema("ibug68").names
    i, j = names.index("right_eye_0"), names.index("left_eye_3")
    if flip is HorizontalFlip:
        np.testing.assert_allclose(once.annotations.keypoints[:, j, 0], 30 * 0 + 44 - a.keypoints[:, i, 0])
    else:
        np.testing.assert_allclose(once.annotations.keypoints[:, j, 1], 30 - a.keypoints[:, i, 1])


def test_horizontal_flip_is_exactly_x_to_w_minus_x() -> None:
    """Hand-computed: a pixel at column 0 of a 5-wide image goes to column 4; its centre 0.5 -> 4.5 = 5 - 0.5."""
    from fakevision.core import Annotations, Sample

    img = np.zeros((1, 5, 1), np.uint8)
    img[0, 0] = 255
    m = np.zeros((1, 1, 5), bool)
    m[0, 0, 0] = True
    s = Sample(img, Annotations(categories=["p"], boxes=[[0, 0, 1, 1]], masks=m, keypoints=[[[0.5, 0.5]]]))
    out = HorizontalFlip(p=1.0)(s, np.random.default_rng(0))
    assert out.image[0, :, 0].tolist() == [0, 0, 0, 0, 255]
    assert out.annotations.keypoints.tolist() == [[[4.5, 0.5]]]
    assert out.annotations.boxes.tolist() == [[4.0, 0.0, 5.0, 1.0]]


@pytest.mark.parametrize("name", sorted(PHOTOMETRIC))
@pytest.mark.parametrize("float_image", [False, True])
def test_photometric_ops_never_change_annotations(name: str, float_image: bool) -> None:
    s = random_sample(11, 40, 52, float_image=float_image)
    out = PHOTOMETRIC[name]()(s, np.random.default_rng(5))
    assert out.annotations is s.annotations
    a = out.annotations
    np.testing.assert_array_equal(a.boxes, boxes_from_masks(s.annotations.masks))
    assert out.image.shape == s.image.shape and out.image.dtype == s.image.dtype
    assert not np.array_equal(out.image, s.image), "the op should change pixels"
    if float_image:
        assert out.image.min() >= 0.0 and out.image.max() <= 1.0


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_same_seed_same_bytes_and_params_replay_from_json(name: str, channels: int) -> None:
    s = random_sample(7, 33, 41)
    s = s.replace(image=np.ascontiguousarray(np.concatenate([s.image] * 2, axis=2)[:, :, :channels]))
    op = ALL[name]()
    p1 = op.sample_params(np.random.default_rng(99), s)
    p2 = op.sample_params(np.random.default_rng(99), s)
    assert p1 == p2
    replayed = json.loads(json.dumps(p1))  # stored in provenance as JSON
    a, b = op.apply(s, p1), op.apply(s, replayed)
    assert a.image.tobytes() == b.image.tobytes() and a.image.shape[2] == channels
    np.testing.assert_array_equal(a.annotations.boxes, b.annotations.boxes)
    assert op(s, np.random.default_rng(99)).image.tobytes() == a.image.tobytes()
    # apply is pure: the input is untouched
    assert s.image.tobytes() == random_sample(7, 33, 41).image.tobytes() or channels != 3


@pytest.mark.parametrize("name", sorted(ALL))
def test_probability_zero_is_a_no_op(name: str) -> None:
    s = random_sample(2, 20, 20)
    op = ALL[name]()
    op.p = 0.0
    params = op.sample_params(np.random.default_rng(0), s)
    assert params == {"applied": False}
    assert op.apply(s, params) is s
