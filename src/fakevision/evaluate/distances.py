"""Distribution distances over features: FID (Fréchet distance) and KID (unbiased polynomial-kernel MMD²).

Why these formulas exactly: users compare our numbers with papers, which use torch-fidelity / pytorch-fid. So FID
is ``|mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2))`` with the trace of the matrix square root taken as the sum
of the square roots of the eigenvalues of ``S1 S2`` (stable where ``scipy.linalg.sqrtm`` returns complex noise),
covariances with ``ddof=1``; and KID is the mean (and std) over random subsets of the unbiased MMD² estimate with
the kernel ``k(x, y) = (x·y / d + 1)³``, subsets drawn as torch-fidelity draws them (``RandomState(seed)``,
without replacement), so with the same features and seed the numbers agree to rounding.

Small sets: FID needs at least 2 samples per side (a covariance); with fewer than ``d + 1`` samples the
covariance is singular and FID is biased upwards, which the result records in ``notes``. KID needs at least 2
per side; when a side has fewer samples than ``subset_size`` the subset shrinks to the smaller side (recorded).

>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 1.0
>>> abs(round(fid_from_features(a, a).value, 6)), fid_from_features(a, b).value > 7
(0.0, True)
>>> kid_from_features(a, b, subset_size=100).mean > kid_from_features(a, a[::-1], subset_size=100).mean
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fakevision.core.errors import InputError


@dataclass(frozen=True)
class FIDResult:
    """A Fréchet distance and what it was computed from (``extractor`` names the feature network)."""

    value: float
    n1: int
    n2: int
    dim: int
    extractor: str = "unknown"
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KIDResult:
    """KID mean and std over ``subsets`` subsets of ``subset_size`` samples per side."""

    mean: float
    std: float
    subsets: int
    subset_size: int
    n1: int
    n2: int
    dim: int
    extractor: str = "unknown"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_features(f: np.ndarray, what: str, min_n: int) -> np.ndarray:
    arr = np.asarray(f, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"{what} features must be a 2-D array (N x D), got shape {arr.shape}")
    if arr.shape[0] < min_n:
        raise InputError(f"{what} set has {arr.shape[0]} samples; at least {min_n} are needed")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what} features contain NaN or infinite values")
    return arr


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (``ddof=1``) of N x D features, in float64."""
    f = _check_features(features, "input", 2)
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between two Gaussians; ``tr sqrt(S1 S2)`` from the eigenvalues of ``S1 S2``.

    The eigenvalues of a product of two PSD matrices are real and non-negative in exact arithmetic; rounding can
    leave tiny negative or imaginary parts, which the real part of the complex square root discards.

    >>> frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
    2.0
    """
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    eig = np.linalg.eigvals(s1 @ s2).astype(np.complex128)
    tr_covmean = float(np.sum(np.sqrt(eig)).real)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def fid_from_features(features1: np.ndarray, features2: np.ndarray, extractor: str = "unknown") -> FIDResult:
    """FID between two feature sets (N1 x D and N2 x D). Raises ``InputError`` for fewer than 2 samples a side."""
    f1 = _check_features(features1, "first", 2)
    f2 = _check_features(features2, "second", 2)
    if f1.shape[1] != f2.shape[1]:
        raise InputError(f"feature sizes differ: {f1.shape[1]} vs {f2.shape[1]}")
    notes = []
    d = f1.shape[1]
    if min(len(f1), len(f2)) <= d:
        notes.append(
            f"fewer samples ({min(len(f1), len(f2))}) than feature dimensions + 1 ({d + 1}): the covariance is "
            "singular and FID is biased upwards; compare only numbers computed at the same sample counts"
        )
    mu1, s1 = feature_statistics(f1)
    mu2, s2 = feature_statistics(f2)
    return FIDResult(frechet_distance(mu1, s1, mu2, s2), len(f1), len(f2), d, extractor, tuple(notes))


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """``(x·y / d + coef0) ** degree``, the KID kernel (d = feature size)."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD² from the three m x m kernel matrices: within-set means exclude the diagonal, the cross term
    keeps it (the estimator of Bińkowski et al. 2018 that KID reports).

    >>> k = np.ones((3, 3))
    >>> mmd2_unbiased(k, k, k)
    0.0
    """
    m = k_xx.shape[0]
    if k_xx.shape != (m, m) or k_yy.shape != (m, m) or k_xy.shape != (m, m):
        raise ValueError("kernel matrices must all be m x m")
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid_from_features(
    features1: np.ndarray,
    features2: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 2020,
    extractor: str = "unknown",
) -> KIDResult:
    """KID: mean ± std of unbiased polynomial-kernel MMD² over random subsets.

    ``seed`` 2020 is torch-fidelity's default, so defaults reproduce its numbers. A side smaller than
    ``subset_size`` shrinks the subset (noted in the result) instead of failing.
    """
    f1 = _check_features(features1, "first", 2)
    f2 = _check_features(features2, "second", 2)
    if f1.shape[1] != f2.shape[1]:
        raise InputError(f"feature sizes differ: {f1.shape[1]} vs {f2.shape[1]}")
    if subsets < 1 or subset_size < 2:
        raise ValueError("KID needs subsets >= 1 and subset_size >= 2")
    notes = []
    m = min(subset_size, len(f1), len(f2))
    if m < subset_size:
        notes.append(f"subset size reduced from {subset_size} to {m} (the smaller set has {m} samples)")
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        a = f1[rng.choice(len(f1), m, replace=False)]
        b = f2[rng.choice(len(f2), m, replace=False)]
        mmds[i] = mmd2_unbiased(polynomial_kernel(a, a), polynomial_kernel(a, b), polynomial_kernel(b, b))
    return KIDResult(float(mmds.mean()), float(mmds.std()), subsets, m, len(f1), len(f2), f1.shape[1], extractor,
                     tuple(notes))
