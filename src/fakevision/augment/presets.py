"""Presets: augmentation pipelines tuned to a problem, by name (``get_preset``).

- ``camera``: what a real camera adds to a clean render (the render source uses it): optics blur or hand
  motion, exposure, sensor noise, JPEG. Photometric only, so rendered annotations stay exact; a few ms per 256².
- ``iris-phone``: the seed's example, high-quality iris images -> mobile-like ones: the image is scaled down
  so the iris diameter is 40-95 px (the output is smaller than the input: no border to invent), a small tilt
  (the corner triangles it uncovers are reflected; they are far from the iris), hand-held motion blur,
  defocus, low contrast, a soft shadow, noise at the seed's variances (40/70/100), JPEG. The iris mask moves
  with the scale and tilt (one fused warp).
- ``face``: for landmark data: flip (landmark names swapped), a mild affine, lighting, blur, noise, JPEG.
- ``detection``: the letterbox of detector training: the longer side scaled to 512, padded to 512 x 512 with grey
  (114, as YOLO pads), a flip and a mild affine, all one warp (boxes, masks, keypoints and the camera follow), then
  lighting and a little noise.
- ``classification``: ImageNet-style training views: a random resized crop to 224 x 224 (area 8-100 %, aspect
  3/4-4/3), a flip, lighting.
"""

from __future__ import annotations

from collections.abc import Callable

from fakevision.augment.base import Choices, Transform
from fakevision.augment.compose import Compose, OneOf
from fakevision.augment.crops import LongestMaxSize, PadIfNeeded, RandomResizedCrop
from fakevision.augment.geometric import Affine, HorizontalFlip, Rotate, ScaleToObjectSize
from fakevision.augment.photometric import (
    Brightness,
    Contrast,
    Gamma,
    GaussianBlur,
    GaussianNoise,
    JpegCompression,
    MotionBlur,
    ResolutionLoss,
    Shadow,
)


def camera() -> Transform:
    return Compose([
        OneOf([GaussianBlur(sigma=(0.3, 1.2)), MotionBlur(length=(3.0, 9.0), angle=(0.0, 180.0))], p=0.5),
        Gamma(gamma=(0.8, 1.25), p=0.5),
        GaussianNoise(variance=(4.0, 100.0), p=0.8),
        JpegCompression(quality=(50.0, 95.0), p=0.5),
    ])


def iris_phone() -> Transform:
    return Compose([
        ScaleToObjectSize(size=(40.0, 95.0), keep_size=False, border="reflect"),
        Rotate(angle=(-10.0, 10.0), p=0.5, border="reflect"),
        ResolutionLoss(scale=(0.5, 0.9), p=0.5),
        MotionBlur(length=(3.0, 11.0), angle=(0.0, 180.0), p=0.7),
        GaussianBlur(sigma=(0.5, 1.5), p=0.5),
        Contrast(factor=(0.4, 0.75)),
        Shadow(strength=(0.3, 0.6), softness=(0.05, 0.25), p=0.6),
        GaussianNoise(variance=Choices(choices=[40.0, 70.0, 100.0])),
        JpegCompression(quality=(40.0, 80.0), p=0.5),
    ])


def face() -> Transform:
    return Compose([
        HorizontalFlip(p=0.5),
        Affine(scale=(0.9, 1.1), angle=(-20.0, 20.0), x=(-0.05, 0.05), y=(-0.05, 0.05), border="replicate"),
        Brightness(delta=(-0.15, 0.15), p=0.5),
        Contrast(factor=(0.7, 1.2), p=0.5),
        Gamma(gamma=(0.8, 1.25), p=0.3),
        OneOf([GaussianBlur(sigma=(0.5, 1.5)), MotionBlur(length=(3.0, 7.0))], p=0.3),
        GaussianNoise(variance=(10.0, 70.0), p=0.3),
        JpegCompression(quality=(40.0, 95.0), p=0.3),
    ])


def detection() -> Transform:
    return Compose([
        LongestMaxSize(max_size=512),
        PadIfNeeded(min_height=512, min_width=512, fill=114.0),
        HorizontalFlip(p=0.5),
        Affine(scale=(0.8, 1.2), angle=(-5.0, 5.0), x=(-0.1, 0.1), y=(-0.1, 0.1), fill=114.0),
        Brightness(delta=(-0.15, 0.15), p=0.5),
        Contrast(factor=(0.7, 1.3), p=0.5),
        GaussianNoise(variance=(5.0, 40.0), p=0.2),
    ])


def classification() -> Transform:
    return Compose([
        RandomResizedCrop(height=224, width=224),
        HorizontalFlip(p=0.5),
        Brightness(delta=(-0.2, 0.2), p=0.5),
        Contrast(factor=(0.6, 1.4), p=0.5),
        Gamma(gamma=(0.8, 1.25), p=0.3),
    ])


PRESETS: dict[str, Callable[[], Transform]] = {
    "camera": camera, "iris-phone": iris_phone, "face": face, "detection": detection,
    "classification": classification,
}


def get_preset(name: str) -> Transform:
    """A fresh preset pipeline by name; an unknown name gives a ValueError listing the known ones.

    >>> import numpy as np
    >>> from fakevision.core import Sample
    >>> out = get_preset("camera")(Sample(np.zeros((64, 64, 3), np.uint8)), np.random.default_rng(0))
    >>> out.image.shape
    (64, 64, 3)
    """
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown augmentation preset {name!r}; known: {sorted(PRESETS)}") from None
