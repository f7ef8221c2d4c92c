"""Downstream protocol, statistics, training loop and report fragments."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakevision.core.errors import InputError
from fakevision.evaluate.protocol import (
    align_classes,
    draw_fake,
    run_protocol,
    write_protocol,
)
from fakevision.evaluate.report import render_fragment
from fakevision.evaluate.stats import difference_ci
from fakevision.io.labelled import (
    LabelledImages,
    Split,
    load_labelled_csv,
    stratified_split,
)


def _toy(n_per: int, seed: int, noise: float = 60.0) -> LabelledImages:
    """Two classes: a bright left half vs a bright right half, plus noise."""
    rng = np.random.default_rng(seed)
    imgs, labels = [], []
    for c in (0, 1):
        for _ in range(n_per):
            im = rng.normal(100, noise, (12, 12, 1))
            im[:, :6] += 80 if c == 0 else 0
            im[:, 6:] += 80 if c == 1 else 0
            imgs.append(np.clip(im, 0, 255).astype(np.uint8))
            labels.append(c)
    ids = [f"{seed}-{i}" for i in range(len(labels))]
    return LabelledImages(np.stack(imgs), np.array(labels), ["left", "right"], ids)


def test_fake_data_that_carries_signal_helps_and_ci_says_so():
    real = _toy(40, 0, noise=110.0)
    split = stratified_split(real.labels, 3, 10, seed=0)  # 6 training images: too few
    fake = _toy(60, 1, noise=110.0)  # a good generator: more samples of the same distribution
    res = run_protocol(real, split, fake, ratios=(0, 8), seeds=(0, 1, 2), epochs=5, model="smallcnn")
    base, more = res["rows"][0]["test_acc"]["mean"], res["rows"][1]["test_acc"]["mean"]
    assert more > base + 0.05, (base, more)
    assert res["rows"][1]["n_fake"] == 48 and len(res["runs"]) == 6


def test_fake_never_enters_val_or_test_and_classes_align():
    real = _toy(10, 0)
    ids = [str(i) for i in range(10)]
    fake = LabelledImages(_toy(5, 3).images, np.array([1] * 5 + [0] * 5), ["right", "left"], ids)
    aligned = align_classes(fake, real)
    assert aligned.labels.tolist() == [0] * 5 + [1] * 5  # "right"(0 in fake) -> 1 in real, swapped
    bad = LabelledImages(fake.images, fake.labels, ["right", "up"], fake.ids, "fakeset")
    with pytest.raises(InputError, match="not in the real set"):
        align_classes(bad, real)
    idx = draw_fake(aligned, 6, 2, np.random.default_rng(0))
    assert sorted(np.bincount(aligned.labels[idx]).tolist()) == [3, 3]
    with pytest.raises(InputError, match="fake set has 10"):
        draw_fake(aligned, 11, 2, np.random.default_rng(0))


def test_writes_json_table_plot_and_report_fragment(tmp_path):
    real = _toy(8, 0)
    split = Split(np.arange(0, 16, 2), np.arange(1, 16, 4), np.arange(3, 16, 4), 0)
    res = run_protocol(real, split, _toy(8, 5), ratios=(0.5,), seeds=(0, 1), epochs=1)
    write_protocol(res, tmp_path)
    data = json.loads((tmp_path / "protocol.json").read_text())
    assert [r["ratio"] for r in data["rows"]] == [0.0, 0.5]
    assert (tmp_path / "protocol.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 0.5 |" in (tmp_path / "protocol.md").read_text()
    frag = render_fragment(tmp_path)
    assert frag.startswith('<section class="fv-evaluate">') and "data:image/png;base64," in frag
    assert "Δ vs real only" in frag


def test_difference_ci_against_scipy_welch():
    from scipy import stats

    a, b = [0.81, 0.85, 0.83, 0.86, 0.80], [0.78, 0.80, 0.77, 0.79, 0.83]
    d = difference_ci(a, b)
    t = stats.ttest_ind(a, b, equal_var=False)
    ci = t.confidence_interval(0.95)
    assert d["ci95"] == pytest.approx([ci.low, ci.high], rel=1e-9)


def test_csv_loading_errors_name_the_file(tmp_path):
    (tmp_path / "labels.csv").write_text("path,cls\nmissing.png,a\nother.png,b\n")
    with pytest.raises(InputError, match="not found: missing.png"):
        load_labelled_csv(tmp_path / "labels.csv", "cls")
    with pytest.raises(InputError, match="no column 'gender'"):
        load_labelled_csv(tmp_path / "labels.csv", "gender")
    with pytest.raises(InputError, match="class 0 has 3 images"):
        stratified_split(np.array([0, 0, 0, 1, 1, 1, 1]), 2, 1)


def test_shared_utk_split_is_fixed(shared_data):
    from fakevision.io.labelled import load_known_set

    ds, split = load_known_set("utkface_gender", shared_data, size=16)
    ds2, split2 = load_known_set("utkface_gender", shared_data, size=16)
    assert len(split.train) == 300 and len(split.val) == 200 and len(split.test) == 1500
    np.testing.assert_array_equal(split.train, split2.train)
    assert set(split.train).isdisjoint(split.test) and set(split.val).isdisjoint(split.test)
