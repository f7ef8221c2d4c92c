"""Classical augmentation that carries every annotation exactly (design.md §3-4, issue 4).

One class per operation: ``sample_params(rng, sample)`` draws a JSON dict of parameters (kept in provenance),
pure ``apply(sample, params)`` uses them, ``op(sample, rng)`` does both. Geometric ops are 3x3 matrices in the
corner convention and move image, masks, label map, depth, surface normals (resampled like depth, and the vectors
turned with the picture: see ``functional.geometry``), keypoints (with left/right swap on mirrors) and boxes
together; photometric ops never touch annotations. ``Compose`` fuses consecutive geometric ops into one
warp. Crops, resizes and pads (``RandomResizedCrop``, ``CropAroundObject``, ``Resize``, ``LongestMaxSize`` +
``PadIfNeeded``, ``CenterCrop``) are matrices too, and update the render camera's K. Non-rigid ops
(``ElasticTransform``, ``GridDistortion``, ``PiecewiseAffine``) are dense backward maps (``functional.dense``): the image and dense annotations are
remapped once, keypoints and box outlines move through the map's inverse, solved per point.
``get_preset("camera" | "iris-phone" | "face" | "detection" | "classification")`` returns a ready pipeline.

>>> import numpy as np
>>> from fakevision.augment import Compose, Rotate, GaussianNoise, get_preset
>>> from fakevision.core import Sample
>>> s = Sample(np.zeros((32, 32, 3), np.uint8))
>>> Compose([Rotate(angle=(-10, 10)), GaussianNoise(variance=40)])(s, np.random.default_rng(0)).image.shape
(32, 32, 3)
"""

from fakevision.augment.base import Choices, Params, PhotometricTransform, Transform
from fakevision.augment.compose import ClassConditional, Compose, OneOf, SomeOf
from fakevision.augment.crops import (
    CenterCrop,
    CropAroundObject,
    LongestMaxSize,
    PadIfNeeded,
    RandomResizedCrop,
    Resize,
)
from fakevision.augment.geometric import (
    Affine,
    GeometricTransform,
    HorizontalFlip,
    Rotate,
    ScaleToObjectSize,
    Translate,
    VerticalFlip,
    Zoom,
)
from fakevision.augment.landmark import LandmarkWarp
from fakevision.augment.nonrigid import DenseTransform, ElasticTransform, GridDistortion, PiecewiseAffine
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
from fakevision.augment.presets import PRESETS, get_preset

__all__ = [
    "PRESETS",
    "Affine",
    "Brightness",
    "CenterCrop",
    "Choices",
    "ClassConditional",
    "Compose",
    "Contrast",
    "CropAroundObject",
    "DenseTransform",
    "ElasticTransform",
    "Gamma",
    "GaussianBlur",
    "GaussianNoise",
    "GeometricTransform",
    "GridDistortion",
    "HorizontalFlip",
    "JpegCompression",
    "LandmarkWarp",
    "LongestMaxSize",
    "MotionBlur",
    "OneOf",
    "PadIfNeeded",
    "Params",
    "PhotometricTransform",
    "PiecewiseAffine",
    "RandomResizedCrop",
    "Resize",
    "ResolutionLoss",
    "Rotate",
    "ScaleToObjectSize",
    "Shadow",
    "SomeOf",
    "Transform",
    "Translate",
    "VerticalFlip",
    "Zoom",
    "get_preset",
]
