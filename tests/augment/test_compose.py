"""Containers: fusion into one warp, OneOf / SomeOf / ClassConditional, presets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakevision.augment import (
    ClassConditional,
    Compose,
    GaussianNoise,
    HorizontalFlip,
    OneOf,
    Rotate,
    SomeOf,
    Zoom,
    get_preset,
)
from fakevision.augment.functional.geometry import warp_sample
from fakevision.augment.presets import PRESETS
from tests.augment.helpers import random_sample


def test_consecutive_geometric_ops_fuse_into_one_warp(monkeypatch: pytest.MonkeyPatch) -> None:
    import fakevision.augment.compose as compose_mod

    s = random_sample(1, 40, 50)
    t = Compose([Rotate(angle=(-30, 30)), Zoom(scale=(0.8, 1.2)), HorizontalFlip(p=1.0), GaussianNoise(variance=40),
                 Rotate(angle=10)])
    params = t.sample_params(np.random.default_rng(0), s)
    calls: list[np.ndarray] = []
    real = compose_mod.warp_sample

    def counting(sample, m, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(m)
        return real(sample, m, *a, **k)

    monkeypatch.setattr(compose_mod, "warp_sample", counting)
    out = t.apply(s, params)
    assert len(calls) == 1  # [rotate, zoom, flip] fused into one warp; the lone last rotate warps itself
    ops, ps = t.ops, params["ops"]
    m = ops[2].matrix(ps[2], 40, 50) @ ops[1].matrix(ps[1], 40, 50) @ ops[0].matrix(ps[0], 40, 50)
    np.testing.assert_allclose(calls[0], m)
    expected = warp_sample(s, m)
    expected = ops[4].apply(ops[3].apply(expected, ps[3]), ps[4])
    assert out.image.tobytes() == expected.image.tobytes()
    np.testing.assert_allclose(out.annotations.keypoints, expected.annotations.keypoints)


def test_fused_and_unfused_agree_on_annotations_and_fused_is_sharper() -> None:
    s = random_sample(4, 64, 64, n=1)
    ops = [Rotate(angle=17), Zoom(scale=1.1), Rotate(angle=-17)]
    fused, unfused = Compose(ops), Compose(ops, fuse=False)
    p = fused.sample_params(np.random.default_rng(0), s)
    a, b = fused.apply(s, p), unfused.apply(s, p)
    ka, kb = a.annotations, b.annotations
    both = (ka.visibility > 0) & (kb.visibility > 0)
    np.testing.assert_allclose(ka.keypoints[both], kb.keypoints[both], atol=1e-9)
    # one bilinear pass keeps more detail than three (high-frequency energy of the random image)
    c = slice(20, 44)
    ga = np.abs(np.diff(a.image[c, c].astype(float), axis=1)).mean()
    gb = np.abs(np.diff(b.image[c, c].astype(float), axis=1)).mean()
    assert ga > gb * 1.05


def test_one_of_some_of_and_probability() -> None:
    s = random_sample(0, 20, 20)
    one = OneOf([HorizontalFlip(p=1.0), Rotate(angle=5)], weights=[1, 3])
    choices = [one.sample_params(np.random.default_rng(i), s)["choice"] for i in range(400)]
    assert 0.65 < np.mean(choices) < 0.85  # weight 3 of 4 on the second op
    some = SomeOf([HorizontalFlip(p=1.0), Rotate(angle=5), GaussianNoise(variance=40)], n=(1, 2))
    for i in range(50):
        p = some.sample_params(np.random.default_rng(i), s)
        applied = [j for j, q in enumerate(p["ops"]) if q["applied"]]
        assert applied == p["chosen"] and 1 <= len(applied) <= 2
        json.dumps(p)
    half = Compose([HorizontalFlip(p=0.5)])
    rate = np.mean([half.sample_params(np.random.default_rng(i), s)["ops"][0]["applied"] for i in range(400)])
    assert 0.4 < rate < 0.6


def test_class_conditional_picks_the_pipeline_of_the_label() -> None:
    t = ClassConditional({"a": HorizontalFlip(p=1.0)}, default=None)
    s_a, s_b = random_sample(0, 16, 20, label="a"), random_sample(0, 16, 20, label="b")
    rng = np.random.default_rng(0)
    assert np.array_equal(t(s_a, rng).image, s_a.image[:, ::-1])
    assert t(s_b, rng).image is s_b.image


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_carry_annotations_and_are_reproducible(name: str) -> None:
    s = random_sample(5, 96, 128, n=2)
    t = get_preset(name)
    a = t(s, np.random.default_rng(3))
    b = t(s, np.random.default_rng(3))
    assert a.image.tobytes() == b.image.tobytes()
    assert a.annotations.masks.shape[1:] == a.image.shape[:2]
    if name == "detection":
        assert a.image.shape == (512, 512, 3)
    elif name == "classification":
        assert a.image.shape == (224, 224, 3)
    elif name != "iris-phone":  # iris-phone shrinks the image so the iris is phone-sized
        assert a.image.shape == s.image.shape
    if name == "camera":  # photometric only: every annotation exactly as rendered
        assert a.annotations is s.annotations
    from fakevision.core.sample import boxes_from_masks

    np.testing.assert_array_equal(a.annotations.boxes, boxes_from_masks(a.annotations.masks))


def test_iris_phone_scales_the_object_into_the_target_size() -> None:
    s = random_sample(8, 240, 320, n=1)
    big = np.zeros((1, 240, 320), bool)
    yy, xx = np.mgrid[0:240, 0:320]
    big[0] = (xx - 160) ** 2 + (yy - 120) ** 2 <= 75**2  # an "iris" of diameter ~150 px
    from fakevision.core.sample import boxes_from_masks

    s = s.replace(annotations=s.annotations.replace(masks=big, boxes=boxes_from_masks(big), keypoints=None,
                                                    visibility=None, keypoint_schema=None,
                                                    categories=["iris"], instance_attributes=None))
    for i in range(10):
        out = get_preset("iris-phone")(s, np.random.default_rng(i))
        b = out.annotations.boxes[0]
        assert 38 <= max(b[2] - b[0], b[3] - b[1]) <= 97


def test_ops_with_different_borders_do_not_fuse_and_keep_their_own_border() -> None:
    s = random_sample(2, 32, 32, n=1)
    inner = ClassConditional({"a": Rotate(angle=30, border="reflect")})
    t = Compose([inner, Rotate(angle=5)])  # reflect vs constant: two warps, each with its own border
    p = t.sample_params(np.random.default_rng(0), s)
    out = t.apply(s, p)
    step = Rotate(angle=5).apply(Rotate(angle=30, border="reflect").apply(s, {"angle": 30.0}), {"angle": 5.0})
    assert out.image.tobytes() == step.image.tobytes()
    alone = Compose([inner]).apply(s, {"applied": True, "ops": [p["ops"][0]]})
    assert alone.image[0, 0].any()  # the reflected corner is filled, not black


def test_flips_fuse_with_any_border(monkeypatch: pytest.MonkeyPatch) -> None:
    import fakevision.augment.compose as compose_mod

    borders: list[str] = []
    real = compose_mod.warp_sample

    def spy(sample, m, hw, border, fill, **kw):  # noqa: ANN001, ANN003, ANN202
        borders.append(border)
        return real(sample, m, hw, border=border, fill=fill, **kw)

    monkeypatch.setattr(compose_mod, "warp_sample", spy)
    s = random_sample(1, 24, 24)
    t = Compose([HorizontalFlip(p=1.0), Rotate(angle=20, border="reflect"), Zoom(scale=0.9, border="reflect")])
    t(s, np.random.default_rng(0))
    assert borders == ["reflect"]


def test_a_keypoint_that_leaves_and_comes_back_in_a_fused_run_is_invisible_as_op_by_op() -> None:
    from fakevision.augment import Translate

    s = random_sample(3, 40, 50)
    ops = [Translate(x=0.5, y=0.0), Zoom(scale=0.7), Translate(x=-0.35, y=0.0)]
    fused, unfused = Compose(ops), Compose(ops, fuse=False)
    p = fused.sample_params(np.random.default_rng(0), s)
    a, b = fused.apply(s, p).annotations, unfused.apply(s, p).annotations
    left = (s.annotations.keypoints[..., 0] >= 25) & (s.annotations.visibility > 0)
    assert left.any()
    assert not a.visibility[left].any(), "pushed past the right edge by the first op: gone, fused or not"
    np.testing.assert_array_equal(a.visibility, b.visibility)
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-9)


@pytest.mark.parametrize("seed", range(12))
def test_fused_visibility_equals_op_by_op_visibility(seed: int) -> None:
    """Any chain of geometric ops (containers included): fusing changes pixels (one interpolation instead of
    several) but never which keypoints are visible or where they are."""
    from tests.augment.helpers import GEOMETRIC

    rng = np.random.default_rng(seed)
    names = sorted(GEOMETRIC)
    chain = [GEOMETRIC[names[i]]() for i in rng.choice(len(names), 4)]
    chain.insert(int(rng.integers(5)), OneOf([Rotate(angle=(-40, 40)), Zoom(scale=(0.5, 1.6))]))
    s = random_sample(seed, 36, 44, n=1)
    fused, unfused = Compose(chain), Compose(chain, fuse=False)
    p = fused.sample_params(rng, s)
    a, b = fused.apply(s, p).annotations, unfused.apply(s, p).annotations
    assert a.num_instances == b.num_instances or a.num_instances == 0 or b.num_instances == 0
    if a.num_instances == b.num_instances == 1:
        np.testing.assert_array_equal(a.visibility, b.visibility)
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-6)


def test_noise_bytes_come_from_numpy_alone() -> None:
    """GaussianNoise is the raw PCG64 stream (16-bit words) through the normal quantile table, rounded and added
    with saturation: reimplemented here without OpenCV, the bytes are equal (so no OpenCV version can change them)."""
    from scipy.special import ndtri

    s = random_sample(1, 30, 40)
    t = GaussianNoise(variance=70.0)
    p = t.sample_params(np.random.default_rng(5), s)
    got = t.apply(s, p).image
    raw = np.random.PCG64(p["seed"]).random_raw(30 * 40 * 3 // 4)
    u = np.frombuffer(raw.astype("<u8").tobytes(), "<u2").reshape(30, 40, 3)
    table = np.clip(np.rint(ndtri((np.arange(65536) + 0.5) / 65536) * np.sqrt(70.0)), -255, 255)
    want = np.clip(s.image.astype(np.int32) + table[u].astype(np.int32), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(got, want)
    assert abs((got.astype(float) - s.image)[(s.image > 40) & (s.image < 215)].std() - np.sqrt(70)) < 0.4
