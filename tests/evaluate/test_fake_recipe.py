"""``evaluate downstream`` / ``evaluate distances`` take a recipe as the fake set: it is made first (into
``OUT/fake-data``), reused when already finished, and the leakage guard still applies to its samples."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakevision.core.errors import InputError
from fakevision.evaluate.api import evaluate_distances, evaluate_downstream, resolve_fake_set


def _real(root: Path, n: int = 40) -> Path:
    """Two classes of random 24 x 24 images (a: darker, b: brighter) with a labels.csv."""
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = ["path,label"]
    for i in range(n):
        cls = "ab"[i % 2]
        img = rng.integers(0, 128, (24, 24, 3)) + (100 if cls == "b" else 0)
        cv2.imwrite(str(root / f"{i}.png"), np.asarray(img, np.uint8))
        rows.append(f"{i}.png,{cls}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def test_downstream_with_an_augment_recipe_as_fake_set(tmp_path: Path) -> None:
    real = _real(tmp_path / "real")
    recipe = tmp_path / "aug.yaml"
    recipe.write_text(f"""
seed: 3
sources:
  - type: augment
    count: 80
    input: {{format: csv, path: {real}, label_column: label}}
    preset: camera
outputs: [imagefolder, manifest]
""")
    out = tmp_path / "ev"
    logs: list[str] = []
    res = evaluate_downstream(real, "label", recipe, out, n_train=4, n_val=1, ratios=(0.0, 1.0), seeds=(0, 1),
                              epochs=1, size=16, log=logs.append)
    made = out / "fake-data"
    assert (made / "manifest.jsonl").is_file()
    assert len((made / "manifest.jsonl").read_text().splitlines()) == 80
    # Round-robin over the 40 real images: each is a parent twice. Only the 8 training images (4 per class) may
    # be parents of fake training data, so 2 x 32 = 64 fake samples are excluded.
    assert res["fake_excluded_for_leakage"] == 64
    assert json.loads((out / "protocol.json").read_text())["fake_excluded_for_leakage"] == \
        res["fake_excluded_for_leakage"]
    assert any("making" in line for line in logs)
    # A second run reuses the finished fake set instead of making it again.
    before = (made / "manifest.jsonl").stat().st_mtime_ns
    logs.clear()
    evaluate_downstream(real, "label", recipe, out, n_train=4, n_val=1, ratios=(0.0,), seeds=(0,), epochs=1,
                        size=16, log=logs.append)
    assert any("reusing" in line for line in logs)
    assert (made / "manifest.jsonl").stat().st_mtime_ns == before


def test_distances_of_a_render_recipe(tmp_path: Path) -> None:
    real = _real(tmp_path / "real", 24)
    recipe = tmp_path / "render.yaml"
    recipe.write_text("""
sources:
  - {type: render, count: 8, width: 48, height: 48, degrade: none, objects: [1, 2]}
outputs: [coco, manifest]
""")
    res = evaluate_distances(real, recipe, tmp_path / "d", kid_subsets=3, kid_subset_size=50, size=24)
    assert res["fid"]["extractor"] == "randconv-v1" and np.isfinite(res["fid"]["value"])
    assert res["memorisation"]["n_fake"] == 8


def test_a_folder_of_something_else_is_refused_not_overwritten(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("sources: [{type: render, count: 2, width: 32, height: 32}]\noutputs: [coco]\n")
    (tmp_path / "ev" / "fake-data").mkdir(parents=True)
    keep = tmp_path / "ev" / "fake-data" / "mine.txt"
    keep.write_text("x")
    with pytest.raises(Exception, match="already exists"):
        resolve_fake_set(recipe, tmp_path / "ev")
    assert keep.read_text() == "x"
    no_images = tmp_path / "m.yaml"
    no_images.write_text("sources: [{type: render, count: 2, width: 32, height: 32}]\noutputs: [manifest]\n")
    with pytest.raises(InputError, match="writes no images"):
        resolve_fake_set(no_images, tmp_path / "ev2")
    with pytest.raises(InputError, match="fake set not found"):
        resolve_fake_set(tmp_path / "missing.csv", tmp_path / "ev")
