"""Small CPU-friendly classifiers, written here (no torchvision/timm).

* ``SmallCNN`` -- the protocol's default: three 3x3 conv blocks (BN, ReLU, 2x2 max pool) of 16/32/64 channels,
  global average pool, dropout 0.3, linear. ~25 k parameters; a 32 x 32 epoch over 300 images takes well under a
  second on one core.
* ``PaperNetB`` -- the Smart Augmentation paper's small target network B (Lemley et al. 2017, the "small net"
  used to show SA lets a small net compete): conv 16 3x3 -> max pool -> conv 8 3x3 -> max pool -> dense 32 ->
  softmax, ReLU activations, plus dropout 0.5 before the dense layer.

>>> import torch
>>> SmallCNN(1, 5)(torch.zeros(2, 1, 32, 32)).shape
torch.Size([2, 5])
>>> PaperNetB(1, 2, 32)(torch.zeros(3, 1, 32, 32)).shape
torch.Size([3, 2])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.MaxPool2d(2))


class SmallCNN(nn.Module):
    """Input N x C x S x S in [0, 1]; output N x classes logits."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(_block(in_channels, width), _block(width, 2 * width),
                                      _block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(4 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x - 0.5))


class PaperNetB(nn.Module):
    """The SA paper's small target network B; ``size`` is the input side (needed for the dense layer)."""

    def __init__(self, in_channels: int, num_classes: int, size: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(8 * (size // 4) ** 2, 32), nn.ReLU(),
                                  nn.Linear(32, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x - 0.5))


MODELS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "smallcnn": lambda c, k, s: SmallCNN(c, k),
    "paper_b": lambda c, k, s: PaperNetB(c, k, s),
}


def build_model(name: str, in_channels: int, num_classes: int, size: int) -> nn.Module:
    """A model by name (``smallcnn`` or ``paper_b``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](in_channels, num_classes, size)
