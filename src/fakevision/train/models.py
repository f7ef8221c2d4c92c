"""Small CPU-friendly models for the downstream protocol, written here (no torchvision/timm).

* ``SmallCNN`` -- the protocol's default: three 3x3 conv blocks (BN, ReLU, 2x2 max pool) of 16/32/64 channels,
  global average pool, dropout 0.3, linear. ~25 k parameters; a 32 x 32 epoch over 300 images takes well under a
  second on one core.
* ``PaperNetB`` -- the Smart Augmentation paper's small target network B (Lemley et al. 2017, the "small net"
  used to show SA lets a small net compete): conv 16 3x3 -> max pool -> conv 8 3x3 -> max pool -> dense 32 ->
  softmax, ReLU activations, plus dropout 0.5 before the dense layer.

* ``LandmarkNet`` -- the landmark task's model: a strided conv encoder (stem /2, then stages /2 of two 3x3 convs)
  and either a *heatmap* head (one map per landmark at 1/8 of the input, from the last stage upsampled and the
  stage at 1/8, spatial soft-argmax to coordinates: integral regression, Sun et al. 2018) or a *regression* head
  (flatten, dense 256, dense 2K). Both output coordinates in [0, 1] of the image width/height.
* ``UNet`` -- the segmentation task's model: a small U-Net (Ronneberger et al. 2015; widths 8/16/32/64 by default,
  two 3x3 conv + BN + ReLU per level, nearest upsampling, skip concatenation). By default its first level runs at
  half resolution (a stride-2 first conv) and the logits are upsampled bilinearly to the input size: 3.6x less
  time per training step on the CPU than full-resolution features at 128 x 96 (measured, 1 thread), for masks
  whose boundaries are smooth curves; ``stem_stride=1`` is the classic layout.

>>> import torch
>>> LandmarkNet(1, 64, "heatmap")(torch.zeros(2, 1, 64, 64)).shape
torch.Size([2, 68, 2])
>>> UNet(1, 3)(torch.zeros(1, 1, 48, 64)).shape
torch.Size([1, 3, 48, 64])
>>> SmallCNN(1, 5)(torch.zeros(2, 1, 32, 32)).shape
torch.Size([2, 5])
>>> PaperNetB(1, 2, 32)(torch.zeros(3, 1, 32, 32)).shape
torch.Size([3, 2])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
import torch.nn.functional as F
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


def conv_bn_relu(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    """3x3 (or ``kernel``) conv without bias, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


LANDMARK_WIDTHS = {64: (16, 24, 48, 96), 128: (16, 24, 48, 96, 128)}


class LandmarkNet(nn.Module):
    """``size`` x ``size`` image (N x C x S x S in [-1, 1]) -> N x K x 2 coordinates in [0, 1] (x / S, y / S).

    Widths by input size (``LANDMARK_WIDTHS``: 4 stages at 64, 5 at 128, the last one at 1/32 or 1/16 of the input;
    (16, 24, 48, 96) rather than (16, 32, 64, 128) at 64 px: 0.6x the time per step, measured);
    ``head`` "heatmap" (soft-argmax over K maps at 1/``heatmap_stride`` of the input: the maps at 1/8 from the
    last stage upsampled and joined with the 1/8 stage, and at stride 4 refined by a 1 x 1 convolution of the
    1/4 stage added to their bilinear upsampling -- a finer soft-argmax for ~1.3x the CPU time per step at 64 px,
    measured) or
    "regression" (dense layers on the last feature map).
    """

    def __init__(self, in_channels: int, size: int, head: str = "heatmap", points: int = 68,
                 widths: tuple[int, ...] | None = None, heatmap_stride: int = 8) -> None:
        super().__init__()
        if head not in ("heatmap", "regression"):
            raise ValueError(f"head must be 'heatmap' or 'regression', got {head!r}")
        if heatmap_stride not in (4, 8):
            raise ValueError(f"heatmap_stride must be 4 or 8, got {heatmap_stride!r}")
        w = widths or LANDMARK_WIDTHS.get(size) or LANDMARK_WIDTHS[64]
        self.head_kind, self.points = head, points
        self.stem = conv_bn_relu(in_channels, w[0], 2, 5)
        self.stages = nn.ModuleList(nn.Sequential(conv_bn_relu(a, b, 2), conv_bn_relu(b, b))
                                    for a, b in itertools.pairwise(w))
        self.skip = 2  # the stage at 1/8 of the input: stem /2, then /4, /8
        self.fine: nn.Module | None = None
        self.out: nn.Module
        if head == "heatmap":
            self.out = nn.Conv2d(w[-1] + w[self.skip], points, 1)
            if heatmap_stride == 4:
                self.fine = nn.Conv2d(w[self.skip - 1], points, 1)
        else:
            side = size // 2 ** len(w)
            self.out = nn.Sequential(nn.Flatten(), nn.Linear(w[-1] * side * side, 256), nn.ReLU(inplace=True),
                                     nn.Linear(256, 2 * points), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = [self.stem(x)]
        for st in self.stages:
            f.append(st(f[-1]))
        if self.head_kind == "regression":
            return self.out(f[-1]).view(-1, self.points, 2)
        up = F.interpolate(f[-1], size=f[self.skip].shape[-2:], mode="nearest")
        h = self.out(torch.cat([up, f[self.skip]], 1))
        if self.fine is not None:
            fine = f[self.skip - 1]
            h = F.interpolate(h, size=fine.shape[-2:], mode="bilinear", align_corners=False) + self.fine(fine)
        h = h.float()
        n, k, hh, ww = h.shape
        p = h.flatten(2).softmax(-1).view(n, k, hh, ww)
        xs = (torch.arange(ww, device=h.device, dtype=h.dtype) + 0.5) / ww
        ys = (torch.arange(hh, device=h.device, dtype=h.dtype) + 0.5) / hh
        return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], -1)


class UNet(nn.Module):
    """N x C x H x W -> N x classes x H x W logits; H and W divisible by ``stem_stride`` * 2 ** (len(widths) - 1)."""

    def __init__(self, in_channels: int, classes: int, widths: tuple[int, ...] = (8, 16, 32, 64),
                 stem_stride: int = 2) -> None:
        super().__init__()
        self.stem_stride = stem_stride
        self.inc = nn.Sequential(conv_bn_relu(in_channels, widths[0], stem_stride), conv_bn_relu(widths[0], widths[0]))
        self.down = nn.ModuleList(nn.Sequential(conv_bn_relu(a, b, 2), conv_bn_relu(b, b))
                                  for a, b in itertools.pairwise(widths))
        self.up = nn.ModuleList(conv_bn_relu(b + a, a) for a, b in itertools.pairwise(widths))
        self.out = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = [self.inc(x)]
        for d in self.down:
            f.append(d(f[-1]))
        y = f[-1]
        for j in range(len(f) - 2, -1, -1):
            y = F.interpolate(y, size=f[j].shape[-2:], mode="nearest")
            y = self.up[j](torch.cat([y, f[j]], 1))
        y = self.out(y)
        if self.stem_stride != 1:
            y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y
