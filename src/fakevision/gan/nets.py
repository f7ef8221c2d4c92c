"""The networks: BEGAN's decoder (= generator) and encoder, the auto-encoder discriminator, the inverse generator,
the landmark generator and the small auxiliary/independent CNNs.

Why this shape: BEGAN (Berthelot et al. 2017) uses the same encoder/decoder pair for D and a decoder alone for G:
3x3 convs with ELU, two per scale, stride-2 convs down, nearest-neighbour up, no batch norm. Widths are per
scale so the highest-resolution stage can be narrower: the cost of generation on a CPU is dominated by the convs at
64x64, and a narrower last stage buys speed with little loss of detail. Every size that is 8 * 2^k (16, 32, 64,
128, ...) works with the same code.

>>> import torch
>>> g = Decoder(size=32, z_dim=8, widths=(16, 16, 8))
>>> g(torch.zeros(2, 8)).shape
torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn


def num_scales(size: int) -> int:
    """How many resolutions a net of output ``size`` has, starting from 8x8 (8 -> 1, 64 -> 4, 128 -> 5)."""
    k = math.log2(size / 8)
    if size < 8 or k != int(k):
        raise ValueError(f"image size must be 8 * 2^k (8, 16, 32, 64, 128, ...), got {size}")
    return int(k) + 1


def default_widths(size: int, n: int) -> tuple[int, ...]:
    """Decoder widths from 8x8 up: ``n`` everywhere but the 64x64-and-above stages, which get ``n // 2``."""
    return tuple(n if 8 * 2**i < 64 else max(n // 2, 8) for i in range(num_scales(size)))


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class Decoder(nn.Module):
    """z (B x z_dim) -> image (B x 3 x size x size), values unbounded (trained towards [-1, 1]).

    BEGAN's generator and the decoder half of its discriminator.
    """

    def __init__(self, size: int, z_dim: int, widths: tuple[int, ...], channels: int = 3) -> None:
        super().__init__()
        if len(widths) != num_scales(size):
            raise ValueError(f"size {size} needs {num_scales(size)} widths, got {len(widths)}")
        self.size, self.z_dim, self.widths = size, z_dim, tuple(widths)
        self.fc = nn.Linear(z_dim, widths[0] * 8 * 8)
        blocks: list[nn.Module] = []
        cin = widths[0]
        for i, w in enumerate(widths):
            if i > 0:
                blocks.append(nn.Upsample(scale_factor=2, mode="nearest"))
            blocks += [_conv(cin, w), nn.ELU(), _conv(w, w), nn.ELU()]
            cin = w
        blocks.append(_conv(cin, channels))
        self.body = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.widths[0], 8, 8)
        return self.body(h)


class Encoder(nn.Module):
    """image (B x 3 x size x size) -> code (B x out_dim). Widths from the full resolution down to 8x8.

    Used as the discriminator's encoder, as the inverse generator E (with ``tanh`` to land in G's z range) and as the
    body of the auxiliary and independent evaluation networks.
    """

    def __init__(self, size: int, out_dim: int, widths: tuple[int, ...], channels: int = 3) -> None:
        super().__init__()
        if len(widths) != num_scales(size):
            raise ValueError(f"size {size} needs {num_scales(size)} widths, got {len(widths)}")
        self.widths = tuple(widths)
        layers: list[nn.Module] = [_conv(channels, widths[0]), nn.ELU()]
        for i, w in enumerate(widths):
            cin = widths[i - 1] if i > 0 else widths[0]
            if i > 0:
                layers += [_conv(cin, w, stride=2), nn.ELU()]
            layers += [_conv(w, w), nn.ELU(), _conv(w, w), nn.ELU()]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[-1] * 8 * 8, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1))


class AutoEncoder(nn.Module):
    """BEGAN's discriminator: D(v) = decoder(encoder(v)); its L1 reconstruction error is the 'energy' of v."""

    def __init__(self, size: int, h_dim: int, enc_widths: tuple[int, ...], dec_widths: tuple[int, ...]) -> None:
        super().__init__()
        self.encoder = Encoder(size, h_dim, enc_widths)
        self.decoder = Decoder(size, h_dim, dec_widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class InverseGenerator(nn.Module):
    """E: image -> z, trained with G frozen so that G(E(x)) ~ x.

    The output is linear, not squashed by tanh into BEGAN's z range (-1, 1): a tanh output saturated and froze E on
    the first GPU run (every face mapped to the same corner of z). The training loss pulls z back into range instead.
    """

    def __init__(self, size: int, z_dim: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.net = Encoder(size, z_dim, widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LandmarkGenerator(nn.Module):
    """L: z -> K landmarks as (B x K x 2) coordinates *relative to the image side* (x / size), corner convention.

    Relative coordinates make one trained L serve any output resolution of the same G framing.
    """

    def __init__(self, z_dim: int, num_points: int = 68, hidden: int = 256) -> None:
        super().__init__()
        self.num_points = num_points
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, num_points * 2)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], self.num_points, 2) + 0.5


class ConditionalDecoder(Decoder):
    """G(z, c) for VAC+GAN / VAR+GAN: the condition (one-hot class or regression targets) is appended to z."""

    def __init__(self, size: int, z_dim: int, cond_dim: int, widths: tuple[int, ...]) -> None:
        super().__init__(size, z_dim + cond_dim, widths)
        self.cond_dim = cond_dim
        self.latent_dim = z_dim

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if c is None:  # called with an already-concatenated input
            return super().forward(z)
        return super().forward(torch.cat([z, c.to(z.dtype)], dim=1))


@contextlib.contextmanager
def frozen(*modules: nn.Module | None) -> Iterator[None]:
    """Parameters of ``modules`` (None skipped) take no gradient inside the block and get their own
    ``requires_grad`` back after it, also on an exception: for nets that are only *used* by a loss (a frozen G in
    inversion, a teacher and a judge in distillation), so callers' modules come back as they were lent.

    >>> net = nn.Linear(2, 2)
    >>> with frozen(net, None):
    ...     net.weight.requires_grad
    False
    >>> net.weight.requires_grad
    True
    """
    params = [p for m in modules if m is not None for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def count_params(module: nn.Module) -> int:
    """Number of parameters (to keep the shipped weights small)."""
    return sum(p.numel() for p in module.parameters())
