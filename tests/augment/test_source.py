"""Recipe side: op configs validated from dicts, the per-class plans, and the ``augment`` source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from fakevision.augment.config import build_op, build_pipeline
from fakevision.augment.per_class import ClassPlan
from fakevision.augment.source import AugmentConfig, AugmentSource, augment_count
from fakevision.core.errors import InputError, RecipeError
from fakevision.core.source import build_source, make_sample, source_types
from fakevision.io.images import encode_image
from tests.augment.helpers import random_sample


def test_op_configs_build_and_reject_unknown_keys() -> None:
    t = build_pipeline([
        {"op": "Rotate", "angle": [-10, 10], "p": 0.5},
        {"op": "OneOf", "ops": [{"op": "GaussianBlur", "radius": {"choices": [5, 15, 30]}},
                                {"op": "MotionBlur", "length": 9}]},
        {"op": "ClassConditional", "pipelines": {"iris": [{"op": "Contrast", "factor": 0.5}]}},
    ])
    s = random_sample(0, 32, 32)
    p = t.sample_params(np.random.default_rng(0), s)
    json.dumps(p)
    assert p["ops"][1]["params"]["radius" if p["ops"][1]["choice"] == 0 else "length"] in (5, 15, 30, 9.0)
    with pytest.raises(ValueError, match=r"ops.0: Rotate: angel: Extra inputs"):
        build_pipeline([{"op": "Rotate", "angel": 5}])
    with pytest.raises(ValueError, match=r"ops.1.ops.0: unknown op 'Blur'"):
        build_pipeline([{"op": "Rotate"}, {"op": "OneOf", "ops": [{"op": "Blur"}]}])
    with pytest.raises(ValueError, match="p must be in"):
        build_op({"op": "Zoom", "p": 2})
    with pytest.raises(ValueError, match="lo > hi"):
        build_op({"op": "Zoom", "scale": [2, 1]})


def test_crop_resize_and_non_rigid_ops_build_from_recipe_configs() -> None:
    t = build_pipeline([
        {"op": "RandomResizedCrop", "height": 24, "width": 20, "scale": [0.3, 1.0], "ratio": [0.5, 2.0]},
        {"op": "CropAroundObject", "target": "keypoints", "instance": "largest", "margin": [0.1, 0.2]},
        {"op": "Resize", "height": 30, "width": 30, "interpolation": "area"},
        {"op": "LongestMaxSize", "max_size": [32, 40]},
        {"op": "PadIfNeeded", "min_height": 40, "min_width": 40, "position": "random", "border": "reflect"},
        {"op": "CenterCrop", "height": 36, "width": 36},
        {"op": "PiecewiseAffine", "scale": 0.03, "rows": 4, "cols": [3, 5]},
    ])
    s = random_sample(0, 48, 64)
    p = t.sample_params(np.random.default_rng(0), s)
    out = t.apply(s, json.loads(json.dumps(p)))
    assert out.image.shape == (36, 36, 3)
    with pytest.raises(ValueError, match="interpolation"):
        build_op({"op": "Resize", "height": 4, "width": 4, "interpolation": "lanczos"})
    with pytest.raises(ValueError, match="height"):
        build_op({"op": "CenterCrop", "height": 0, "width": 4})


def test_class_plan_modes() -> None:
    labels = ["b", "a", "b", "a", "a", "c"]
    p = ClassPlan.build(labels, per_class=4)
    assert p.count == 12 and p.classes == ("a", "b", "c")
    slots = [p.slot(i) for i in range(12)]
    # class a (inputs 1, 3, 4): 3 originals then one augmented copy of input 1
    assert [(s.parent, s.original) for s in slots[:4]] == [(1, True), (3, True), (4, True), (1, False)]
    assert [s.parent for s in slots[8:]] == [5, 5, 5, 5] and [s.original for s in slots[8:]] == [1, 0, 0, 0]
    assert all(p.class_of(i) == labels[slots[i].parent] for i in range(12))
    b = ClassPlan.build(labels, balance=True)
    assert b.count == 9
    plain = ClassPlan.build([None] * 3, count=7)
    assert [plain.slot(i).parent for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(InputError, match="x.png: has no class label"):
        ClassPlan.build(["a", None], per_class=2, ids=["y.png", "x.png"])


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for cls, n in (("cat", 3), ("dog", 1)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i}.png").write_bytes(encode_image(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)))
    return root


def test_augment_source_from_a_recipe_section(tmp_path: Path) -> None:
    _folder(tmp_path)
    assert "augment" in source_types()
    spec = {"format": "folder", "path": "data"}
    assert augment_count(spec, per_class=5, base_dir=tmp_path) == 10
    cfg = AugmentConfig(count=10, input=spec, preset="camera", per_class=5)
    src = build_source(cfg, tmp_path)
    made = [make_sample(src, i, 7, "abc") for i in range(10)]
    assert [s.annotations.label for s in made] == ["cat"] * 5 + ["dog"] * 5
    p = made[4].provenance
    assert p.sample_id == "augment-000004" and p.parents == ["cat/1.png"]  # slots 0-2 originals, 3 -> cat/0, 4 -> cat/1
    assert p.recipe_hash == "abc" and p.seed == 7 and p.index == 4
    assert p.params["original"] is False and p.params["augment"]["applied"] is True
    json.dumps(p.to_dict())
    assert made[0].provenance.params["original"] is True
    assert np.array_equal(made[0].image, src.samples[0].image)
    # any worker, any order: sample 8 made alone is byte-identical
    again = make_sample(build_source(cfg, tmp_path), 8, 7, "abc")
    assert again.image.tobytes() == made[8].image.tobytes()
    # replay from provenance alone: parent + stored params
    replay = src.transform.apply(src.samples[p.params["parent_index"]], json.loads(json.dumps(p.params["augment"])))
    assert replay.image.tobytes() == made[4].image.tobytes()
    with pytest.raises(RecipeError, match="count must be 10"):
        build_source(AugmentConfig(count=9, input=spec, preset="camera", per_class=5), tmp_path)


def test_augment_config_validation() -> None:
    spec = {"format": "folder", "path": "data"}
    with pytest.raises(ValidationError, match="exactly one of preset or ops"):
        AugmentConfig(count=1, input=spec)
    with pytest.raises(ValidationError, match="unknown preset"):
        AugmentConfig(count=1, input=spec, preset="phone")
    with pytest.raises(ValidationError, match="ops.0: Zoom: scle"):
        AugmentConfig(count=1, input=spec, ops=[{"op": "Zoom", "scle": 2}])
    with pytest.raises(ValidationError, match="Extra inputs"):
        AugmentConfig(count=1, input=spec, preset="camera", per_clas=3)
    cfg = AugmentConfig(count=1, input=spec, ops=[{"op": "HorizontalFlip"}], balance=True)
    assert cfg.transform().ops[0].p == 0.5


def test_in_memory_source_plain_mode_round_robin() -> None:
    data = [random_sample(i, 20, 24, label=None) for i in range(3)]
    from fakevision.augment import HorizontalFlip

    src = AugmentSource("aug", data, HorizontalFlip(p=1.0), ClassPlan.build([None] * 3, count=6))
    out = [make_sample(src, i) for i in range(6)]
    assert [o.provenance.parents[0] for o in out] == [d.id for d in data] * 2
    assert np.array_equal(out[4].image, data[1].image[:, ::-1])
    assert augment_count(data, copies=2) == 6 and augment_count(data, copies=2, include_originals=True) == 9


def test_provenance_names_every_op_and_replays() -> None:
    """Each op's drawn values are stored under its name (nested containers too), so a record says which op drew
    what, the report plots one series per op, and the stored params still replay the same pixels."""
    from fakevision.augment import Compose, Gamma, GaussianBlur, HorizontalFlip, OneOf, SomeOf
    from fakevision.report.params import flatten

    data = [random_sample(i, 20, 24, label=None) for i in range(2)]
    t = Compose([HorizontalFlip(p=0.5), OneOf([Gamma(), GaussianBlur()]), SomeOf([Gamma(), HorizontalFlip()], n=1)])
    src = AugmentSource("aug", data, t, ClassPlan.build([None] * 2, count=8))
    for i in range(8):
        s = make_sample(src, i)
        p = s.provenance.params["augment"]
        assert p["op"] == "Compose" and [o["op"] for o in p["ops"]] == ["HorizontalFlip", "OneOf", "SomeOf"]
        assert p["ops"][1]["params"]["op"] == ["Gamma", "GaussianBlur"][p["ops"][1]["choice"]]
        assert [o["op"] for o in p["ops"][2]["ops"]] == ["Gamma", "HorizontalFlip"]
        again = t.apply(data[i % 2], p)  # the names do not disturb a replay
        assert np.array_equal(again.image, s.image)
        keys = {k for k, _ in flatten(s.provenance.params)}
        assert "augment.ops[HorizontalFlip].applied" in keys and "augment.ops[SomeOf].ops[Gamma].applied" in keys
