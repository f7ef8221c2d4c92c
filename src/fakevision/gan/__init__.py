"""GANs that make faces *with* annotations: BEGAN, the inverse generator E and landmark generator L (latent-space
mapping), VAC+GAN (auxiliary classifier) and VAR+GAN (auxiliary regressor), and the ``gan_faces`` source.

Submodules are imported on first use so ``import fakevision.gan`` stays cheap and the training code runs where only
PyTorch + NumPy are installed (the GPU machine has no pydantic).

>>> from fakevision.gan import BEGANConfig
>>> BEGANConfig(size=128).gen_widths
(64, 64, 64, 32, 32)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BEGANConfig": "began", "BEGANTrainer": "began", "update_k": "began", "convergence": "began",
    "InverseConfig": "mapping", "LandmarkConfig": "mapping", "train_inverse": "mapping",
    "train_landmarks": "mapping", "nme": "mapping",
    "FaceGAN": "model", "ConditionalGAN": "model",
    "train_began": "api", "train_inverse_generator": "api", "train_landmark_generator": "api",
    "train_vacgan": "api", "train_vargan": "api", "generate_faces": "api", "train_fast_generator": "api",
    "distill_generator": "distill", "refine_codes": "mapping",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"fakevision.gan.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'fakevision.gan' has no attribute {name!r}")
