"""Batched image operations on training tensors (N x C x H x W float in [0, 1]) for the augmentation baselines.

Why here and not ``fakevision.augment``: the baselines run inside a training loop thousands of times per run, on
tensors, with a different random magnitude per image; the ``augment`` package works on annotated ``Sample``
objects one at a time (the right tool for writing data sets, too slow per step here). Geometry follows the
project convention: ``affine_grid``/``grid_sample`` with ``align_corners=False`` map pixel *corners*, so a flip
is x -> W - x exactly and a translation by t pixels moves content by t pixels.

Each op takes the batch and a per-image signed magnitude ``m`` in [-1, 1] (N floats); the policy scales it to
the op's range. Photometric ops follow PIL's ``ImageEnhance`` definitions (blend with a degenerate image).

>>> x = torch.rand(2, 1, 8, 8)
>>> torch.allclose(hflip(hflip(x)), x), torch.allclose(translate_x(x, torch.zeros(2), 0.5), x, atol=1e-6)
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

FILL = 0.5  # grey fill for pixels that come from outside the image


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror left-right (x -> W - x)."""
    return x.flip(-1)


def affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Warp by N x 2 x 3 matrices in normalised [-1, 1] output->input coordinates; outside pixels get ``FILL``."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    ones = torch.ones_like(x[:, :1])
    warped = F.grid_sample(torch.cat([x, ones], 1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    img, valid = warped[:, :-1], warped[:, -1:]
    return img + (1.0 - valid) * FILL


def _theta(x: torch.Tensor) -> torch.Tensor:
    t = torch.zeros(len(x), 2, 3, dtype=x.dtype, device=x.device)
    t[:, 0, 0] = 1.0
    t[:, 1, 1] = 1.0
    return t


def rotate(x: torch.Tensor, m: torch.Tensor, max_deg: float) -> torch.Tensor:
    """Rotate about the centre by ``m * max_deg`` degrees."""
    a = torch.deg2rad(m.to(x.device) * max_deg).to(x.dtype)
    t = _theta(x)
    h, w = x.shape[-2:]
    t[:, 0, 0], t[:, 0, 1] = torch.cos(a), -torch.sin(a) * h / w
    t[:, 1, 0], t[:, 1, 1] = torch.sin(a) * w / h, torch.cos(a)
    return affine(x, t)


def shear_x(x: torch.Tensor, m: torch.Tensor, max_shear: float) -> torch.Tensor:
    t = _theta(x)
    t[:, 0, 1] = m.to(x.device) * max_shear
    return affine(x, t)


def shear_y(x: torch.Tensor, m: torch.Tensor, max_shear: float) -> torch.Tensor:
    t = _theta(x)
    t[:, 1, 0] = m.to(x.device) * max_shear
    return affine(x, t)


def translate_x(x: torch.Tensor, m: torch.Tensor, max_frac: float) -> torch.Tensor:
    """Shift right by ``m * max_frac`` of the width (normalised coords span 2 per width)."""
    t = _theta(x)
    t[:, 0, 2] = -2.0 * m.to(x.device) * max_frac
    return affine(x, t)


def translate_y(x: torch.Tensor, m: torch.Tensor, max_frac: float) -> torch.Tensor:
    t = _theta(x)
    t[:, 1, 2] = -2.0 * m.to(x.device) * max_frac
    return affine(x, t)


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 3:
        return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    return x


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL ImageEnhance: ``b + factor * (a - b)`` (factor 1 = unchanged), clipped."""
    return (b + factor.to(a.device).view(-1, 1, 1, 1) * (a - b)).clamp(0, 1)


def brightness(x: torch.Tensor, m: torch.Tensor, max_delta: float) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), 1.0 + m * max_delta)


def contrast(x: torch.Tensor, m: torch.Tensor, max_delta: float) -> torch.Tensor:
    mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x)
    return _blend(x, mean, 1.0 + m * max_delta)


def color(x: torch.Tensor, m: torch.Tensor, max_delta: float) -> torch.Tensor:
    return _blend(x, _grey(x), 1.0 + m * max_delta)


def sharpness(x: torch.Tensor, m: torch.Tensor, max_delta: float) -> torch.Tensor:
    """PIL's SMOOTH kernel blur as the degenerate image, border pixels kept."""
    k = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], dtype=x.dtype, device=x.device) / 13.0
    c = x.shape[1]
    blur = F.conv2d(x, k.view(1, 1, 3, 3).repeat(c, 1, 1, 1), padding=1, groups=c)
    blur[..., 0, :], blur[..., -1, :], blur[..., :, 0], blur[..., :, -1] = (
        x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1])
    return _blend(x, blur, 1.0 + m * max_delta)


def posterize(x: torch.Tensor, m: torch.Tensor, min_bits: float) -> torch.Tensor:
    """Keep ``8 - |m| * (8 - min_bits)`` bits per channel."""
    bits = (8 - (m.to(x.device).abs() * (8 - min_bits)).round()).clamp(min_bits, 8).view(-1, 1, 1, 1)
    step = 2.0 ** (8 - bits)
    return torch.floor(torch.round(x * 255.0) / step) * step / 255.0


def solarize(x: torch.Tensor, m: torch.Tensor, _unused: float = 0.0) -> torch.Tensor:
    """Invert pixels above ``1 - |m|`` (|m| = 0 leaves the image unchanged)."""
    thr = (1.0 - m.to(x.device).abs()).view(-1, 1, 1, 1)
    return torch.where(x >= thr, 1.0 - x, x)


def autocontrast(x: torch.Tensor, m: torch.Tensor | None = None, _unused: float = 0.0) -> torch.Tensor:
    """Stretch each channel to [0, 1]."""
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    scale = torch.where(hi > lo, 1.0 / (hi - lo).clamp_min(1e-6), torch.ones_like(hi))
    return torch.where(hi > lo, (x - lo) * scale, x).clamp(0, 1)


def equalize(x: torch.Tensor, m: torch.Tensor | None = None, _unused: float = 0.0) -> torch.Tensor:
    """Histogram equalisation per image and channel on 256 levels (vectorised with scatter_add)."""
    n, c, h, w = x.shape
    v = torch.round(x * 255.0).long().view(n * c, h * w)
    hist = torch.zeros(n * c, 256, dtype=x.dtype, device=x.device).scatter_add_(1, v, torch.ones_like(v, dtype=x.dtype))
    cdf = hist.cumsum(1)
    cdf_min = torch.where(hist > 0, cdf, torch.full_like(cdf, float("inf"))).amin(1, keepdim=True)
    denom = (h * w - cdf_min).clamp_min(1.0)
    lut = ((cdf - cdf_min) / denom).clamp(0, 1)
    out = torch.gather(lut, 1, v).view(n, c, h, w)
    flat = (denom <= 1.0).view(n, c, 1, 1)  # a single-level image stays as it is
    return torch.where(flat, x, out)


def identity(x: torch.Tensor, m: torch.Tensor | None = None, _unused: float = 0.0) -> torch.Tensor:
    return x


OpFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]

# name -> (function, signed magnitude?, range parameter at full magnitude) for RandAugment (torchvision's
# 31-bin ranges, translate as a fraction of the side) and for TrivialAugment-Wide.
RANDAUGMENT_OPS: dict[str, tuple[OpFn, bool, float]] = {
    "identity": (identity, False, 0.0),
    "shear_x": (shear_x, True, 0.3),
    "shear_y": (shear_y, True, 0.3),
    "translate_x": (translate_x, True, 150.0 / 331.0),
    "translate_y": (translate_y, True, 150.0 / 331.0),
    "rotate": (rotate, True, 30.0),
    "brightness": (brightness, True, 0.9),
    "color": (color, True, 0.9),
    "contrast": (contrast, True, 0.9),
    "sharpness": (sharpness, True, 0.9),
    "posterize": (posterize, False, 4.0),
    "solarize": (solarize, False, 0.0),
    "autocontrast": (autocontrast, False, 0.0),
    "equalize": (equalize, False, 0.0),
}
TRIVIALAUGMENT_OPS: dict[str, tuple[OpFn, bool, float]] = {
    **RANDAUGMENT_OPS,
    "shear_x": (shear_x, True, 0.99),
    "shear_y": (shear_y, True, 0.99),
    "translate_x": (translate_x, True, 1.0),
    "translate_y": (translate_y, True, 1.0),
    "rotate": (rotate, True, 135.0),
    "brightness": (brightness, True, 0.99),
    "color": (color, True, 0.99),
    "contrast": (contrast, True, 0.99),
    "sharpness": (sharpness, True, 0.99),
    "posterize": (posterize, False, 2.0),
}


def apply_per_image(
    x: torch.Tensor, ops: dict[str, tuple[OpFn, bool, float]], choice: torch.Tensor, magnitude: torch.Tensor,
    gen: torch.Generator,
) -> torch.Tensor:
    """Apply op ``choice[i]`` (index into ``ops``) with magnitude ``magnitude[i]`` in [0, 1] to image i; signed
    ops get a random sign. Images are grouped by op so each op runs once, vectorised."""
    names = list(ops)
    sign = torch.where(torch.rand(len(x), generator=gen) < 0.5, -1.0, 1.0)
    out = x.clone()
    for k in torch.unique(choice).tolist():
        sel = torch.nonzero(choice == k).flatten()
        fn, signed, rng = ops[names[k]]
        m = magnitude[sel] * (sign[sel] if signed else 1.0)
        out[sel] = fn(x[sel], m, rng)
    return out
