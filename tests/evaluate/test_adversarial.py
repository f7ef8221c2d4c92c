"""FGSM and the one-pixel attack on models whose weakness is known."""

from __future__ import annotations

import torch
from torch import nn

from fakevision.evaluate.adversarial import fgsm, one_pixel_attack


def _pixel_model() -> nn.Module:
    """Class 1 iff the brightest pixel exceeds 0.9: one bright pixel flips a dark image (known weakness)."""

    class M(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = x.flatten(1).amax(1)
            return torch.stack([0.9 - s, s - 0.9], 1) * 50

    return M()


def test_one_pixel_attack_changes_one_pixel_and_succeeds_when_possible():
    x = torch.rand(5, 1, 8, 8) * 0.5
    y = torch.zeros(5, dtype=torch.long)
    adv, ok = one_pixel_attack(_pixel_model(), x, y, popsize=30, iters=10)
    assert ok.all()
    changed = (adv != x).flatten(1).sum(1)
    assert (changed <= 1).all()


def test_fgsm_hurts_a_linear_model_within_epsilon():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    x = torch.rand(50, 1, 8, 8)
    y = model(x).argmax(1)  # the model is right on all of them
    adv = fgsm(model, x, y, 0.1)
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    assert (model(adv).argmax(1) == y).float().mean() < 0.8
