"""Smart Augmentation: batch ops, baselines/controls, joint A/B training, checkpoint, source, table runner."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fakevision.evaluate.smart_table import summarise_table, table_markdown
from fakevision.smart import ops
from fakevision.smart.augmenter import SmartAugmenter
from fakevision.smart.baselines import (
    Mixup,
    RandAugment,
    TrivialAugment,
    WithinClassBlend,
)
from fakevision.smart.conditions import make_augmenter
from fakevision.smart.networks import NetA


def test_geometry_follows_the_corner_convention():
    x = torch.rand(3, 1, 8, 10)
    assert torch.equal(ops.hflip(x)[..., 0], x[..., -1])
    # +2 px in x: content moves right by exactly 2 columns, the 2 new columns are fill.
    t = ops.translate_x(x, torch.ones(3), 2 / 10)
    torch.testing.assert_close(t[..., 2:], x[..., :-2], atol=1e-5, rtol=0)
    assert torch.allclose(t[..., :2], torch.full_like(t[..., :2], ops.FILL))
    # 90 degrees on a square image equals a pixel rotation (grid_sample samples exact pixel centres).
    sq = torch.rand(1, 1, 6, 6)
    r = ops.rotate(sq, torch.ones(1), 90.0)
    assert any(torch.allclose(r[0, 0], torch.rot90(sq[0, 0], kk), atol=1e-5) for kk in (1, 3))


def test_photometric_ops_match_references():
    rng = np.random.default_rng(0)
    img = rng.integers(30, 200, (1, 1, 16, 16)).astype(np.float32)
    x = torch.from_numpy(img) / 255.0
    eq = ops.equalize(x)[0, 0].numpy() * 255
    ref = cv2.equalizeHist(img[0, 0].astype(np.uint8)).astype(np.float32)
    assert np.abs(eq - ref).max() <= 1.0
    ac = ops.autocontrast(x)
    assert float(ac.min()) == 0.0 and float(ac.max()) == pytest.approx(1.0)
    post = ops.posterize(x, torch.ones(1), 4) * 255
    assert torch.all(torch.remainder(post.round(), 16) == 0)
    assert torch.allclose(ops.brightness(x, torch.zeros(1), 0.9), x)
    assert torch.allclose(ops.solarize(x, torch.zeros(1)), x)


@pytest.mark.parametrize("aug", [RandAugment(2, 9), TrivialAugment(), WithinClassBlend(3), Mixup(0.4)],
                         ids=lambda a: a.name)
def test_baselines_keep_range_shape_and_targets(aug):
    g = torch.Generator().manual_seed(0)
    imgs, labels = torch.rand(12, 1, 16, 16), torch.tensor([0, 1, 2] * 4)
    aug.fit(imgs, labels, 3, g)
    for bx, by in aug(imgs[:6], labels[:6], None, g):
        assert bx.shape == (6, 1, 16, 16) and float(bx.min()) >= 0 and float(bx.max()) <= 1
        torch.testing.assert_close(by.sum(1), torch.ones(6))


def test_blend_control_averages_same_class_images():
    g = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 0, 1, 1])
    imgs = torch.stack([torch.full((1, 4, 4), v) for v in (0.1, 0.3, 0.7, 0.9)])
    aug = WithinClassBlend(2)
    aug.fit(imgs, labels, 2, g)
    (_, _), (blend, t) = aug(imgs, labels, None, g)
    for b, c in zip(blend, labels.tolist()):
        assert (0.099 <= float(b.mean()) <= 0.301) if c == 0 else (0.699 <= float(b.mean()) <= 0.901)


def test_a_learns_to_help_b_and_checkpoint_round_trips(tmp_path):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(20, 1, 12, 12) * 0.2
    labels = torch.tensor([0, 1] * 10)
    imgs[labels == 1, :, :, 6:] += 0.6
    aug = SmartAugmenter(k=2, per_class=True, lr=3e-3)
    aug.fit(imgs, labels, 2, g)
    b = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 2))
    first = None
    for _ in range(25):
        aug(imgs[:10], labels[:10], b, g)
        first = first or aug.last["loss_a"]
    assert aug.last["loss_a"] < 0.7 * first
    aug.save(tmp_path / "a.pt", ["x", "y"], 1, 12)
    loaded, meta = SmartAugmenter.load(tmp_path / "a.pt")
    parents = imgs[labels == 1][:4].view(2, 2, 1, 12, 12)
    torch.testing.assert_close(loaded.generate(parents, 1), aug.generate(parents, 1))
    assert meta == {"classes": ["x", "y"], "channels": 1, "size": 12}


def test_residual_a_starts_as_the_average():
    a = NetA(3, 1, output="residual")
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(a(x), x.mean(1, keepdim=True))


def test_condition_specs_and_table_summary():
    assert make_augmenter("randaugment:n=1,m=5").name == "randaugment(n=1,m=5)"
    with pytest.raises(ValueError, match="unknown condition"):
        make_augmenter("cutout")
    runs = {(c, s): {"test_acc": a, "augmenter": c, "wall_s": 1.0}
            for c, accs in (("none", [0.80, 0.81, 0.79]), ("mixup", [0.90, 0.91, 0.89])) for s, a in enumerate(accs)}
    res = summarise_table("toy", ["none", "mixup"], [0, 1, 2], runs)
    d = res["rows"][1]["diff_vs_none"]
    assert d["diff"] == pytest.approx(0.10) and d["excludes_zero"]
    assert "| mixup | 90.0 ± 1.0 | +10.0 [" in table_markdown(res)


def test_smart_source_and_train_entry_point(tmp_path, shared_data):
    from fakevision.core.source import build_source, make_sample, source_types
    from fakevision.smart.api import train_smart

    csv_path = shared_data / "orl_att_faces" / "labels.csv"
    summary = train_smart(csv_path, "subject_id", tmp_path, n_train=3, epochs=1, size=16, count=6)
    assert 0.0 <= summary["b_test_acc"] <= 1.0
    lines = (tmp_path / "labels.csv").read_text().splitlines()
    assert lines[0] == "path,label" and len(lines) == 7
    st = source_types()["smart"]
    cfg = st.config(type="smart", count=4, checkpoint=str(tmp_path / "a.pt"), labels_csv=str(csv_path),
                    label_column="subject_id")
    src = build_source(cfg, tmp_path)
    s1, s2 = make_sample(src, 3), make_sample(src, 3)
    assert np.array_equal(s1.image, s2.image) and s1.image.shape == (16, 16, 1)
    assert len(s1.provenance.parents) == 2
    assert all(p.startswith(f"images/s{s1.annotations.label}/") for p in s1.provenance.parents)
