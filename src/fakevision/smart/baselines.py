"""The baselines and controls Smart Augmentation is measured against, as ``BatchAugmenter``s.

* ``Classical`` -- horizontal flip (p = 0.5) and a small random similarity (±10°, ±2/32 shift), the seed's
  "classical" family at a strength that keeps faces faces.
* ``RandAugment(n, m)`` -- Cubuk et al. 2020: ``n`` ops drawn uniformly per image, all at magnitude ``m``/30.
* ``TrivialAugment`` -- Müller & Hutter 2021 (Wide): one op per image, magnitude uniform in [0, 1].
* ``WithinClassBlend(k)`` -- *control*: B also trains on the plain pixel average of ``k`` random same-class
  training images. It is Smart Augmentation with A replaced by a fixed average; if SA does not beat it, the
  learned A adds nothing over blending.
* ``Mixup(alpha)`` -- *control*: Zhang et al. 2018, cross-class blends with soft labels, as an extra batch.

The two controls return the real batch plus one extra batch, exactly like ``SmartAugmenter``, so B sees the same
number of images per step in all three.

>>> import torch
>>> from fakevision.train.classifier import train_classifier
>>> aug = RandAugment(2, 9); g = torch.Generator().manual_seed(0)
>>> aug.fit(torch.rand(6, 1, 8, 8), torch.tensor([0, 0, 0, 1, 1, 1]), 2, g)
>>> [tuple(b[0].shape) for b in aug(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]), None, g)]
[(4, 1, 8, 8)]
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakevision.smart import ops
from fakevision.train.classifier import Batch


class _Base:
    name = "base"

    def fit(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int, gen: torch.Generator) -> None:
        self.num_classes = num_classes
        self.images = images
        self.labels = labels
        self.by_class = [torch.nonzero(labels.cpu() == c).flatten() for c in range(num_classes)]

    def onehot(self, y: torch.Tensor) -> torch.Tensor:  # on y's device
        return F.one_hot(y, self.num_classes).float()

    def same_class(self, y: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
        """``len(y) x k`` indices of random training images of each label (with replacement)."""
        out = torch.empty(len(y), k, dtype=torch.long)
        for i, c in enumerate(y.tolist()):
            pool = self.by_class[c]
            out[i] = pool[torch.randint(len(pool), (k,), generator=gen)]
        return out


def classical(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip with p = 0.5, then rotate ±10° and shift ±2/32 of the side (one warp per op, per image)."""
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), ops.hflip(x), x)
    u = lambda: torch.rand(n, generator=gen) * 2 - 1  # noqa: E731
    x = ops.rotate(x, u(), 10.0)
    return ops.translate_y(ops.translate_x(x, u(), 2 / 32), u(), 2 / 32)


class NoAugment(_Base):
    name = "none"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, model: nn.Module, gen: torch.Generator) -> list[Batch]:
        return [(x, self.onehot(y))]


class Classical(_Base):
    name = "classical"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, model: nn.Module, gen: torch.Generator) -> list[Batch]:
        return [(classical(x, gen), self.onehot(y))]


class RandAugment(_Base):
    def __init__(self, n: int = 2, m: int = 9) -> None:
        if not (n >= 1 and 0 <= m <= 30):
            raise ValueError("RandAugment needs n >= 1 and 0 <= m <= 30")
        self.n, self.m = n, m
        self.name = f"randaugment(n={n},m={m})"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, model: nn.Module, gen: torch.Generator) -> list[Batch]:
        k = len(ops.RANDAUGMENT_OPS)
        for _ in range(self.n):
            choice = torch.randint(k, (len(x),), generator=gen)
            x = ops.apply_per_image(x, ops.RANDAUGMENT_OPS, choice, torch.full((len(x),), self.m / 30.0), gen)
        return [(x, self.onehot(y))]


class TrivialAugment(_Base):
    name = "trivialaugment"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, model: nn.Module, gen: torch.Generator) -> list[Batch]:
        k = len(ops.TRIVIALAUGMENT_OPS)
        choice = torch.randint(k, (len(x),), generator=gen)
        mag = torch.randint(31, (len(x),), generator=gen).float() / 30.0
        return [(ops.apply_per_image(x, ops.TRIVIALAUGMENT_OPS, choice, mag, gen), self.onehot(y))]


class WithinClassBlend(_Base):
    """Control: the real batch plus, per image, the average of ``k`` random training images of its class."""

    def __init__(self, k: int = 2, use_classical: bool = False) -> None:
        self.k, self.use_classical = k, use_classical
        self.name = f"blend(k={k})" + ("+classical" if use_classical else "")

    def __call__(self, x: torch.Tensor, y: torch.Tensor, model: nn.Module, gen: torch.Generator) -> list[Batch]:
        blend = self.images[self.same_class(y, self.k, gen)].mean(1)
        if self.use_classical:
            x, blend = classical(x, gen), classical(blend, gen)
        return [(x, self.onehot(y)), (blend, self.onehot(y))]


class Mixup(_Base):
    """Control: the real batch plus a mixup batch (λ ~ Beta(α, α) per image, partner = a random batch image)."""

    def __init__(self, alpha: float = 0.4) -> None:
        self.alpha = alpha
        self.name = f"mixup(alpha={alpha})"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, model: nn.Module, gen: torch.Generator) -> list[Batch]:
        # torch's Beta sampler takes no generator; draw from a numpy generator seeded from ``gen`` instead
        seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        lam = torch.from_numpy(np.random.default_rng(seed).beta(self.alpha, self.alpha, len(x))).float().to(x.device)
        perm = torch.randperm(len(x), generator=gen)
        t = self.onehot(y)
        mixed = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x[perm]
        return [(x, t), (mixed, lam.view(-1, 1) * t + (1 - lam.view(-1, 1)) * t[perm])]
