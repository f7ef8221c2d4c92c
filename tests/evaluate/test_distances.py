"""FID and KID: against torch-fidelity's own functions (when installed) and an independent scipy reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from fakevision.core.errors import InputError
from fakevision.evaluate.distances import fid_from_features, kid_from_features, mmd2_unbiased, polynomial_kernel


@pytest.fixture(scope="module")
def feats() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 24))
    b = rng.normal(size=(250, 24)) @ (np.eye(24) + 0.1 * rng.normal(size=(24, 24))) + 0.3
    return a, b


def _rel(x: float, y: float) -> float:
    return abs(x - y) / max(abs(y), 1e-12)


def test_fid_matches_torch_fidelity(feats, tf_import):
    import torch

    mf = tf_import("torch_fidelity.metric_fid")
    a, b = feats
    s1 = mf.fid_features_to_statistics(torch.from_numpy(a))
    s2 = mf.fid_features_to_statistics(torch.from_numpy(b))
    ref = mf.fid_statistics_to_metric(s1, s2, False)[mf.KEY_METRIC_FID]
    assert _rel(fid_from_features(a, b).value, ref) <= 1e-6


def test_kid_matches_torch_fidelity(feats, tf_import):
    import torch

    mk = tf_import("torch_fidelity.metric_kid")
    a, b = feats
    ref = mk.kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=20, kid_subset_size=100,
                                    verbose=False, rng_seed=7)
    ours = kid_from_features(a, b, subsets=20, subset_size=100, seed=7)
    assert _rel(ours.mean, ref[mk.KEY_METRIC_KID_MEAN]) <= 1e-6
    assert _rel(ours.std, ref[mk.KEY_METRIC_KID_STD]) <= 1e-6


def test_fid_matches_independent_scipy_sqrtm_reference(feats):
    # pytorch-fid's formulation: scipy.linalg.sqrtm of the covariance product.
    a, b = feats
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    ref = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    assert _rel(fid_from_features(a, b).value, ref) <= 1e-6


def test_fid_analytic_gaussians():
    # Diagonal Gaussians: FID = |dmu|^2 + sum (sqrt(v1) - sqrt(v2))^2, checked on exact statistics.
    from fakevision.evaluate.distances import frechet_distance

    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    d = frechet_distance(np.zeros(3), np.diag(v1), np.array([1.0, 2.0, 0.0]), np.diag(v2))
    assert d == pytest.approx(5.0 + (1 + 0 + 4), rel=1e-12)


def test_kid_unbiased_estimator_against_brute_force():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5)) + 0.5
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    m = 30
    brute = sum(kxx[i, j] + kyy[i, j] for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    brute -= 2 * kxy.mean()
    assert mmd2_unbiased(kxx, kxy, kyy) == pytest.approx(brute, rel=1e-12)
    # Unbiased: near zero (and can be negative) for two samples of one distribution, clearly positive here.
    assert mmd2_unbiased(kxx, kxy, kyy) > 0.05


def test_small_sets_shrink_kid_subset_and_note_it():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 8)), rng.normal(size=(12, 8))
    r = kid_from_features(a, b, subsets=5, subset_size=1000)
    assert r.subset_size == 12 and r.notes and "reduced" in r.notes[0]
    f = fid_from_features(a, b)
    assert np.isfinite(f.value) and not any("singular" in n for n in f.notes)  # 12 > 8 dims: no note
    f2 = fid_from_features(rng.normal(size=(5, 8)), b)
    assert any("singular" in n for n in f2.notes)


@pytest.mark.parametrize("n", [0, 1])
def test_too_small_sets_raise_input_error(n):
    a = np.zeros((n, 4))
    with pytest.raises(InputError, match="at least 2"):
        fid_from_features(a, np.ones((10, 4)))
    with pytest.raises(InputError, match="at least 2"):
        kid_from_features(np.ones((10, 4)), a)


def test_bad_shapes_and_values():
    with pytest.raises(InputError, match="differ"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(InputError, match="NaN"):
        kid_from_features(np.full((5, 3), np.nan), np.zeros((5, 3)))
    with pytest.raises(InputError, match="2-D"):
        fid_from_features(np.zeros(5), np.zeros((5, 1)))


def test_results_record_extractor(feats):
    a, b = feats
    assert fid_from_features(a, b, extractor="randconv-v1").to_dict()["extractor"] == "randconv-v1"
    assert kid_from_features(a, b, subsets=2, subset_size=50, extractor="x").to_dict()["extractor"] == "x"
