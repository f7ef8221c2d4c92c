"""Memorisation check: planted exact and lightly augmented copies are all flagged, fresh samples rarely are."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fakevision.core.errors import InputError
from fakevision.evaluate.features import PixelExtractor
from fakevision.evaluate.memorisation import (
    find_near_copies,
    memorisation_check,
    nearest_neighbours,
)


def _light_augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness ±10 %, Gaussian noise sd 3, a 1-pixel shift: a copy a generator might emit."""
    out = img.astype(np.float64) * rng.uniform(0.9, 1.1) + rng.normal(0, 3, img.shape)
    m = np.float32([[1, 0, rng.choice([-1, 1])], [0, 1, 0]])
    out = cv2.warpAffine(np.clip(out, 0, 255).astype(np.uint8), m, img.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


@pytest.mark.slow
@pytest.mark.parametrize("extractor", [PixelExtractor()], ids=lambda e: e.name)
def test_planted_copies_flagged_fresh_samples_rarely(shared_data, extractor):
    from fakevision.io.labelled import load_labelled_csv

    ds = load_labelled_csv(shared_data / "utkface_random_200" / "labels.csv", "gender", size=48, grey=False)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(ds))
    train, hold, fresh = ds.images[perm[:1200]], ds.images[perm[1200:1500]], ds.images[perm[1500:1800]]
    exact = train[:20]
    light = np.stack([_light_augment(im, rng) for im in train[20:40]])
    fake = np.concatenate([exact, light, fresh])
    r = find_near_copies(fake, train, hold, extractor, quantile=0.02)
    assert r.flagged[:40].all(), np.flatnonzero(~r.flagged[:40])
    assert (r.nearest_train[:40] == np.arange(40)).all()  # each copy points at its original
    false_rate = r.flagged[40:].mean()
    assert false_rate <= 0.06, false_rate  # expected ~ quantile (0.02) for fresh draws
    s = r.summary()
    assert s["extractor"] == extractor.name and s["flagged"] == int(r.flagged.sum())


def test_synthetic_features_threshold_semantics():
    rng = np.random.default_rng(1)
    train, hold = rng.normal(size=(500, 8)), rng.normal(size=(400, 8))
    fresh = rng.normal(size=(2000, 8))
    r = memorisation_check(fresh, train, hold, quantile=0.05)
    assert 0.02 <= r.flagged_fraction <= 0.09  # fresh draws are flagged at about the chosen quantile
    assert r.threshold == pytest.approx(np.quantile(r.holdout_nn_distance, 0.05))


def test_nearest_neighbours_brute_force():
    rng = np.random.default_rng(2)
    q, ref = rng.normal(size=(37, 5)), rng.normal(size=(53, 5))
    d, i = nearest_neighbours(q, ref, chunk=10)
    full = np.linalg.norm(q[:, None] - ref[None], axis=2)
    np.testing.assert_allclose(d, full.min(1), rtol=1e-9)
    np.testing.assert_array_equal(i, full.argmin(1))


def test_too_little_reference_data_is_an_input_error():
    with pytest.raises(InputError, match="held-out"):
        memorisation_check(np.zeros((3, 2)), np.zeros((4, 2)), np.zeros((2, 2)))
    with pytest.raises(InputError, match="differ"):
        memorisation_check(np.zeros((3, 2)), np.zeros((4, 3)), np.zeros((6, 3)))
