"""The annotation model: validation on construction, schemas and converters, seeding, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakevision import Annotations, InputError, Provenance, Sample, convert_keypoints, get_schema, sample_rng
from fakevision.core.keypoints import FACE49_FROM_68
from fakevision.core.sample import boxes_from_masks
from fakevision.io.atomic import atomic_path, atomic_write_json, dumps_json, remove_stale_temps


def _img(h: int = 10, w: int = 12) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def test_mask_shape_must_match_image() -> None:
    with pytest.raises(InputError, match="masks shape .* does not match image 10x12"):
        Sample(_img(), Annotations(categories=["a"], boxes=[[0, 0, 1, 1]], masks=np.zeros((1, 10, 11), bool)))


def test_nan_keypoints_rejected() -> None:
    kp = np.zeros((1, 68, 2))
    kp[0, 5, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        Annotations(categories=["face"], boxes=[[0, 0, 1, 1]], keypoints=kp, keypoint_schema="ibug68")


def test_unordered_box_rejected() -> None:
    with pytest.raises(InputError, match="not ordered"):
        Annotations(categories=["a"], boxes=[[5, 0, 1, 1]])


def test_schema_point_count_checked() -> None:
    with pytest.raises(InputError, match="ibug68 has 68 points, keypoints have 67"):
        Annotations(categories=["face"], boxes=[[0, 0, 1, 1]], keypoints=np.zeros((1, 67, 2)),
                    keypoint_schema="ibug68")


def test_categories_boxes_count_checked() -> None:
    with pytest.raises(InputError, match="2 categories but 1 boxes"):
        Annotations(categories=["a", "b"], boxes=[[0, 0, 1, 1]])


def test_grey_image_promoted_and_bad_dtype_rejected() -> None:
    assert Sample(np.zeros((3, 4), np.uint8)).image.shape == (3, 4, 1)
    with pytest.raises(InputError, match="dtype"):
        Sample(np.zeros((3, 4, 3), np.int64))


@pytest.mark.parametrize("name,k", [("ibug68", 68), ("face49", 49), ("face5", 5)])
def test_schema_flip_is_involution_and_swaps_left_right(name: str, k: int) -> None:
    s = get_schema(name)
    assert s.num_keypoints == k
    for i, j in enumerate(s.flip_perm):
        assert s.flip_perm[j] == i
        a, b = s.names[i], s.names[j]
        side_a, side_b = a.rsplit("_", 1)[0], b.rsplit("_", 1)[0]
        if "left" in a:
            assert side_b == side_a.replace("left", "right"), (a, b)
        elif "right" in a:
            assert side_b == side_a.replace("right", "left"), (a, b)
        elif a.startswith(("jaw_", "mouth_", "nose_base_")):
            pass  # symmetric chains: mirrored partner or itself
        else:
            assert i == j, (a, b)


def test_ibug68_flip_pairs_hand_checked() -> None:
    p = get_schema("ibug68").flip_perm
    assert (p[0], p[8], p[36], p[39], p[48], p[30], p[62]) == (16, 8, 45, 42, 54, 30, 62)


def test_face49_is_68_without_jaw_and_inner_mouth_corners() -> None:
    assert len(FACE49_FROM_68) == 49 and 60 not in FACE49_FROM_68 and 64 not in FACE49_FROM_68
    assert min(FACE49_FROM_68) == 17


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_converters_commute(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (68, 2))
    vis = rng.choice([0, 1, 2], 68).astype(np.uint8)
    xy49, v49 = convert_keypoints(xy, vis, "ibug68", "face49")
    a, va = convert_keypoints(xy49, v49, "face49", "face5")
    b, vb = convert_keypoints(xy, vis, "ibug68", "face5")
    np.testing.assert_allclose(a, b)
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_allclose(xy49, xy[list(FACE49_FROM_68)])


def test_converter_eye_centre_and_visibility() -> None:
    xy = np.zeros((68, 2))
    xy[36:42, 0] = [10, 12, 14, 16, 18, 20]
    vis = np.full(68, 2, np.uint8)
    vis[40] = 1
    out, v = convert_keypoints(xy, vis, "ibug68", "face5")
    assert out[0, 0] == pytest.approx(15.0)
    assert v[0] == 1 and v[1] == 2


def test_impossible_conversion_is_clear() -> None:
    with pytest.raises(ValueError, match="cannot convert face5 -> ibug68"):
        convert_keypoints(np.zeros((5, 2)), np.full(5, 2), "face5", "ibug68")


def test_boxes_from_masks_corner_convention() -> None:
    m = np.zeros((2, 6, 7), bool)
    m[0, 2, 3] = True  # a single pixel at column 3, row 2 covers [3, 4) x [2, 3)
    assert boxes_from_masks(m).tolist() == [[3, 2, 4, 3], [0, 0, 0, 0]]


def test_sample_rng_independent_of_order() -> None:
    a = [sample_rng(7, "render", i).random() for i in range(5)]
    b = [sample_rng(7, "render", i).random() for i in reversed(range(5))][::-1]
    assert a == b
    assert sample_rng(7, "render", 0).random() != sample_rng(7, "augment", 0).random()
    assert sample_rng(7, "render", 0).random() != sample_rng(8, "render", 0).random()


def test_provenance_round_trip() -> None:
    p = Provenance("render", "render-000001", seed=3, index=1, params={"a": [1, 2]}, parents=["x"])
    assert Provenance.from_dict(p.to_dict()) == p


def test_atomic_write_leaves_nothing_on_error(tmp_path) -> None:
    target = tmp_path / "f.json"
    atomic_write_json(target, {"b": 1, "a": 2})
    assert target.read_text() == '{"a":2,"b":1}'
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == '{"a":2,"b":1}'
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
    (tmp_path / ".fvtmp-1-x").write_text("stale")
    assert remove_stale_temps(tmp_path) == 1


def test_canonical_json_rejects_nan() -> None:
    with pytest.raises(ValueError):
        dumps_json({"x": float("nan")})
