"""Memorisation / privacy check: is a generated sample a near-copy of a training sample?

Why this reference: a distance means nothing alone. A *held-out real* sample is, by construction, a fresh draw
from the same distribution that was never trained on, so its nearest-neighbour distance to the training set says
how close a genuinely new sample typically comes. A fake sample whose distance is below the ``quantile`` of those
held-out distances is closer to some training image than (1 - quantile) of fresh real samples are: flagged as a
likely copy. If fakes were fresh draws, about ``quantile`` of them would be flagged by chance, which is the
false-flag rate the threshold buys.

Features matter: use ``pixels-v1`` (near-duplicate detection) or a semantic extractor (identity leakage); the
result records which one was used.

>>> rng = np.random.default_rng(0)
>>> train, hold = rng.normal(size=(300, 16)), rng.normal(size=(100, 16))
>>> fake = np.concatenate([train[:5] + 0.01 * rng.normal(size=(5, 16)), rng.normal(size=(45, 16))])
>>> r = memorisation_check(fake, train, hold)
>>> bool(r.flagged[:5].all()), int(r.flagged[5:].sum()) <= 3
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fakevision.core.errors import InputError


def nearest_neighbours(queries: np.ndarray, reference: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance from each query row to its nearest reference row, and that row's index.

    >>> d, i = nearest_neighbours(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 1.0], [3.0, 4.0]]))
    >>> d.tolist(), i.tolist()
    ([1.0, 0.0], [0, 1])
    """
    q = np.asarray(queries, np.float64)
    r = np.asarray(reference, np.float64)
    r2 = (r * r).sum(1)
    dist = np.empty(len(q))
    idx = np.empty(len(q), dtype=np.int64)
    for s in range(0, len(q), chunk):
        qc = q[s : s + chunk]
        d2 = (qc * qc).sum(1)[:, None] + r2[None, :] - 2.0 * qc @ r.T
        j = np.argmin(d2, axis=1)
        idx[s : s + chunk] = j
        dist[s : s + chunk] = np.sqrt(np.maximum(d2[np.arange(len(qc)), j], 0.0))
    return dist, idx


@dataclass(frozen=True)
class MemorisationResult:
    """Per fake sample: ``fake_nn_distance``, ``nearest_train`` (index), ``flagged``; the reference held-out
    distances, the ``threshold`` and the summary numbers a report shows."""

    fake_nn_distance: np.ndarray
    nearest_train: np.ndarray
    holdout_nn_distance: np.ndarray
    threshold: float
    quantile: float
    flagged: np.ndarray
    extractor: str

    @property
    def flagged_fraction(self) -> float:
        return float(self.flagged.mean()) if len(self.flagged) else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no per-sample arrays except the flagged indices)."""
        return {
            "extractor": self.extractor,
            "n_fake": int(len(self.flagged)),
            "n_holdout": int(len(self.holdout_nn_distance)),
            "quantile": self.quantile,
            "threshold": self.threshold,
            "flagged": int(self.flagged.sum()),
            "flagged_fraction": self.flagged_fraction,
            # A threshold can be no finer than one reference sample: with n held-out samples a fresh sample falls
            # below the lowest of them with probability 1 / (n + 1), whatever the quantile asked for.
            "expected_chance_fraction": max(self.quantile, 1.0 / (len(self.holdout_nn_distance) + 1)),
            "fake_median_nn": float(np.median(self.fake_nn_distance)),
            "holdout_median_nn": float(np.median(self.holdout_nn_distance)),
            "median_ratio": float(np.median(self.fake_nn_distance) / max(np.median(self.holdout_nn_distance), 1e-12)),
            "flagged_indices": [int(i) for i in np.flatnonzero(self.flagged)],
        }


def closest_pairs(result: MemorisationResult, fake_images: np.ndarray, train_images: np.ndarray,
                  fake_ids: list[str], train_ids: list[str], k: int = 8) -> list[dict[str, Any]]:
    """The ``k`` fake samples closest to a training sample, each with that training sample: ids, distance, whether
    it is flagged, and both pictures as base64 PNG (``fake_png``, ``real_png``) so a report can show them side by
    side without the data sets at hand (the pictures are the small ones the check compared).

    >>> r = memorisation_check(np.zeros((2, 3)), np.zeros((1, 3)), np.ones((5, 3)))
    >>> p = closest_pairs(r, np.zeros((2, 4, 4, 3), np.uint8), np.zeros((1, 4, 4, 3), np.uint8), ["a", "b"], ["t"])
    >>> [(x["fake"], x["real"], x["flagged"]) for x in p], p[0]["fake_png"][:8]
    ([('a', 't', True), ('b', 't', True)], 'iVBORw0K')
    """
    import base64

    from fakevision.io.images import encode_image

    def png(im: np.ndarray) -> str:
        return base64.b64encode(encode_image(np.ascontiguousarray(im), "png")).decode("ascii")

    order = np.argsort(result.fake_nn_distance, kind="stable")[:k]
    return [{"fake": fake_ids[i], "real": train_ids[int(result.nearest_train[i])],
             "distance": float(result.fake_nn_distance[i]), "flagged": bool(result.flagged[i]),
             "fake_png": png(fake_images[i]), "real_png": png(train_images[int(result.nearest_train[i])])}
            for i in order]


def memorisation_check(
    fake: np.ndarray, train: np.ndarray, holdout: np.ndarray, quantile: float = 0.02, extractor: str = "unknown"
) -> MemorisationResult:
    """Flag fake samples closer to the training set than the ``quantile`` of held-out real samples are.

    ``fake``, ``train``, ``holdout``: N x D features from the same extractor. Needs >= 1 training and >= 5
    held-out samples (fewer gives no meaningful reference and raises ``InputError``).
    """
    if not 0.0 < quantile < 0.5:
        raise ValueError("quantile must be in (0, 0.5)")
    f, t, h = (np.asarray(a, np.float64) for a in (fake, train, holdout))
    for name, a in (("fake", f), ("train", t), ("holdout", h)):
        if a.ndim != 2:
            raise InputError(f"{name} features must be N x D, got shape {a.shape}")
    if len(t) < 1 or len(h) < 5:
        raise InputError(f"memorisation check needs >= 1 training and >= 5 held-out samples, got {len(t)}, {len(h)}")
    if not (f.shape[1] == t.shape[1] == h.shape[1]):
        raise InputError(f"feature sizes differ: fake {f.shape[1]}, train {t.shape[1]}, holdout {h.shape[1]}")
    d_h, _ = nearest_neighbours(h, t)
    d_f, j = nearest_neighbours(f, t) if len(f) else (np.zeros(0), np.zeros(0, np.int64))
    thr = float(np.quantile(d_h, quantile))
    return MemorisationResult(d_f, j, d_h, thr, quantile, d_f < thr, extractor)


def shifted(images: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Translate N x H x W x C images by (dx, dy) pixels, borders reflected (a copy that moved slightly)."""
    import cv2

    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    out = [cv2.warpAffine(im, m, (im.shape[1], im.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101).reshape(im.shape) for im in images]
    return np.stack(out) if out else images


def find_near_copies(
    fake_images: np.ndarray,
    train_images: np.ndarray,
    holdout_images: np.ndarray,
    extractor: Any,
    quantile: float = 0.02,
    max_shift: float = 0.05,
    shift_steps: int = 2,
) -> MemorisationResult:
    """Image-level memorisation check, tolerant to small translations.

    Why: aligned face crops sit close together in any feature space, so a copy moved by 1-2 pixels can look as
    far from its original as a new face does. Each query (fake and held-out alike, so the reference stays fair)
    is compared at ``(2 * shift_steps + 1)²`` offsets up to ``max_shift`` of the image side and keeps its
    smallest distance. ``extractor`` maps N x H x W x C uint8 images to N x D features (see ``features``).
    """
    t = extractor(train_images)
    side = min(train_images.shape[1:3])
    offs = np.linspace(-max_shift * side, max_shift * side, 2 * shift_steps + 1) if shift_steps > 0 else [0.0]

    def best(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dist = np.full(len(images), np.inf)
        idx = np.zeros(len(images), np.int64)
        for dx in offs:
            for dy in offs:
                d, j = nearest_neighbours(extractor(shifted(images, dx, dy)), t)
                better = d < dist
                dist[better], idx[better] = d[better], j[better]
        return dist, idx

    if len(holdout_images) < 5:
        raise InputError(f"memorisation check needs >= 5 held-out samples, got {len(holdout_images)}")
    d_h, _ = best(holdout_images)
    d_f, j = best(fake_images)
    thr = float(np.quantile(d_h, quantile))
    return MemorisationResult(d_f, j, d_h, thr, quantile, d_f < thr, getattr(extractor, "name", "unknown"))
