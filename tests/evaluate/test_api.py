"""The entry points the CLI calls: files in, JSON out, every number naming its extractor."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fakevision.evaluate.api import evaluate_distances
from fakevision.evaluate.report import render_fragment


def _folder(root, n, seed, copies_of=None):
    root.mkdir()
    rng = np.random.default_rng(seed)
    rows = ["path,label"]
    for i in range(n):
        img = copies_of[i] if copies_of is not None and i < len(copies_of) else rng.integers(0, 255, (24, 24, 3))
        cv2.imwrite(str(root / f"{i}.png"), np.asarray(img, np.uint8))
        rows.append(f"{i}.png,{'ab'[i % 2]}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def test_evaluate_distances_writes_named_numbers(tmp_path):
    real_csv = _folder(tmp_path / "real", 40, 0)
    real_imgs = [cv2.imread(str(tmp_path / "real" / f"{i}.png")) for i in range(40)]
    # evaluate_distances holds out a seeded half of the real set as reference; copy 3 of the other half.
    train_part = np.random.default_rng(0).permutation(40)[20:]
    fake_csv = _folder(tmp_path / "fake", 12, 1, copies_of=[real_imgs[i] for i in train_part[:3]])
    res = evaluate_distances(real_csv, fake_csv, tmp_path / "out", kid_subsets=5, kid_subset_size=100,
                             holdout_fraction=0.5, size=24)
    data = json.loads((tmp_path / "out" / "distances.json").read_text())
    assert data == json.loads(json.dumps(res))
    assert data["fid"]["extractor"] == data["kid"]["extractor"] == "randconv-v1"
    assert data["kid"]["subset_size"] == 12 and "reduced" in data["kid"]["notes"][0]
    assert data["memorisation"]["extractor"] == "pixels-v1"
    # The 3 copies are flagged; of the 9 fresh random images, each is flagged with chance ~1/21 (20 references).
    flagged = set(data["memorisation"]["flagged_ids"])
    assert {"0.png", "1.png", "2.png"} <= flagged and len(flagged) <= 4
    assert data["memorisation"]["expected_chance_fraction"] == 1 / 21
    assert "near-copies flagged" in render_fragment(tmp_path / "out")


@pytest.mark.slow
def test_evaluate_distances_identity_flags_copies_of_training_people(tmp_path, shared_data):
    """With identity=True, fakes that are real training faces (slightly blurred, so the pixels differ) are flagged as
    training people; the rendered fragment shows the row."""
    pytest.importorskip("dlib", reason="dlib not installed (pip install dlib-bin face-recognition-models)")
    from fakevision.gan.dlib_landmarks import default_model_path

    if default_model_path() is None:
        pytest.skip("dlib's models not installed (pip install face-recognition-models)")
    files = sorted((shared_data / "faces_68pt" / "helen_test").glob("*.jpg"))[:30]
    faces = [cv2.resize(cv2.imread(str(f)), (64, 64), interpolation=cv2.INTER_AREA) for f in files]
    real_csv = _folder(tmp_path / "real", 30, 0, copies_of=faces)
    train_part = np.random.default_rng(0).permutation(30)[15:]
    fakes = [cv2.GaussianBlur(faces[i], (3, 3), 0.8) for i in train_part[:4]]
    fake_csv = _folder(tmp_path / "fake", 4, 1, copies_of=fakes)
    res = evaluate_distances(real_csv, fake_csv, tmp_path / "out", kid_subsets=2, kid_subset_size=4,
                             holdout_fraction=0.5, size=64, identity=True)
    idn = res["identity"]
    assert idn["extractor"] == "dlib-resnet-v1" and idn["n_fake"] == 4 and idn["flagged"] >= 3
    assert "identity leak flagged" in render_fragment(tmp_path / "out")
