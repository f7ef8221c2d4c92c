"""Smart Augmentation's augmenter network A (Lemley, Bazrafkan, Corcoran, IEEE Access 2017).

A takes ``k`` images of one class stacked on the channel axis (k x C channels) and outputs one image (C
channels). Layers as the paper describes its A: four hidden conv layers of 16 (3x3), 16 (5x5), 32 (7x7) and 32
(5x5) channels with ReLU, 'same' padding, then an output conv to C channels.

Provenance of these sizes: the paper's text could not be read here; the layer list is from memory of the paper
and agrees with an independent public re-implementation (github.com/lanPN85/smart-augment, ``smaug/neta1.py``:
the same four hidden layers, a 1x1 output conv with a sigmoid; its ``single_aug.py`` uses alpha 0.7 on the
similarity term, beta 0.3 on B's loss, SGD 0.01 with momentum 0.9, batch 1). That author reports that the paper's
results did not replicate either.

``output="paper"``: the output conv is linear (values are used as they come; clip only for writing).
``output="residual"``: the output is ``mean(inputs) + 0.5 * tanh(conv(h))`` with the output conv zero-initialised,
so A starts as the within-class average and learns a correction. This is *not* in the paper; the pilot here
needed it because a plain A collapsed to a flat grey image at small data sizes. Reports say which was used.

``PerClassA`` holds one A per class (the paper's "# Net As" > 1).

>>> a = NetA(k=2, channels=1)
>>> a(torch.rand(3, 2, 32, 32)).shape
torch.Size([3, 1, 32, 32])
"""

from __future__ import annotations

import torch
from torch import nn

HIDDEN = ((16, 3), (16, 5), (32, 7), (32, 5))


class NetA(nn.Module):
    def __init__(self, k: int, channels: int, output: str = "paper") -> None:
        super().__init__()
        if k < 1:
            raise ValueError("k must be >= 1")
        if output not in ("paper", "residual"):
            raise ValueError("output must be 'paper' or 'residual'")
        self.k, self.channels, self.output = k, channels, output
        layers: list[nn.Module] = []
        cin = k * channels
        for cout, ks in HIDDEN:
            layers += [nn.Conv2d(cin, cout, ks, padding=ks // 2), nn.ReLU()]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(cin, channels, 3, padding=1)
        if output == "residual":
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)  # type: ignore[arg-type]  # (Conv2d's bias is set: bias=True)

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        """``stacked``: N x (k*C) x H x W in [0, 1] -> N x C x H x W."""
        h = self.out(self.body(stacked - 0.5))
        if self.output == "paper":
            return h + 0.5
        n, _, hh, ww = stacked.shape
        mean = stacked.view(n, self.k, self.channels, hh, ww).mean(1)
        return (mean + 0.5 * torch.tanh(h)).clamp(0.0, 1.0)


class PerClassA(nn.Module):
    """One ``NetA`` per class; ``forward(stacked, labels)`` routes each image to its class's A."""

    def __init__(self, num_classes: int, k: int, channels: int, output: str = "paper") -> None:
        super().__init__()
        self.nets = nn.ModuleList(NetA(k, channels, output) for _ in range(num_classes))

    def forward(self, stacked: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        channels = int(self.nets[0].channels)  # type: ignore[arg-type]  # (a NetA; ModuleList indexes as Module)
        out = torch.empty(stacked.shape[0], channels, *stacked.shape[2:], dtype=stacked.dtype,
                          device=stacked.device)
        for c in torch.unique(labels).tolist():
            sel = torch.nonzero(labels == c).flatten().to(stacked.device)
            out[sel] = self.nets[c](stacked[sel])
        return out
