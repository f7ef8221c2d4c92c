"""Feature extractors for FID/KID and the memorisation check. Every extractor has a ``name`` that every result
records, because a distance is only comparable with another made by the same extractor.

* ``inception:<path>`` -- the standard FID Inception-v3 (``fakevision.evaluate.inception``) from a local weights
  file; 2048-d. Numbers are comparable with published FID/KID (same weights, same resize, same scaling).
* ``randconv-v1`` -- a fixed random convolutional network, needs no download. Its weights come from NumPy's PCG64
  generator with a fixed seed (stable across NumPy/PyTorch versions and machines), so the same images give the
  same features everywhere. Random conv features respond to colour, edges, texture and layout statistics at four
  scales; they are known to rank distribution shifts sensibly (random-network FID, Naeem et al. 2020) but carry
  no learned semantics: two sets of faces with different identities but the same image statistics look close.
  Its numbers are NOT comparable with Inception FID values in papers, only with other ``randconv-v1`` numbers.
* ``pixels-v1`` -- 16 x 16 grey thumbnails, standardised per image: the right space to find near-copies
  (memorisation), useless for distribution quality.

>>> ext = get_extractor("randconv-v1")
>>> f = ext(np.zeros((2, 40, 40, 3), np.uint8))
>>> f.shape, ext.name
((2, 480), 'randconv-v1')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from fakevision.core.errors import InputError


class FeatureExtractor(Protocol):
    """Maps images (N x H x W x C uint8, or a list of such images of any sizes) to N x D float64 features."""

    name: str
    dim: int

    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray: ...


def _as_rgb_batch(images: np.ndarray | Sequence[np.ndarray], size: int | None) -> np.ndarray:
    """Stack images to N x size x size x 3 uint8 (grey replicated, alpha dropped, float in [0,1] scaled)."""
    out = []
    for i, im in enumerate(images):
        a = np.asarray(im)
        if a.dtype != np.uint8:
            if a.dtype.kind != "f":
                raise InputError(f"image {i}: dtype {a.dtype} is neither uint8 nor float")
            a = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
            raise InputError(f"image {i}: expected H x W x C with C in 1/3/4, got shape {a.shape}")
        a = np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[:, :, :3]
        if size is not None and a.shape[:2] != (size, size):
            a = cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)
        out.append(a)
    if not out:
        raise InputError("no images given")
    return np.stack(out)


class RandConvExtractor:
    """A fixed random conv net: 4 blocks (3x3 conv, ReLU, 2x2 average pool) of 32/64/128/256 channels on 64 x 64
    RGB; the feature is the concatenated global average of each block (480-d). He-scaled Gaussian weights drawn
    from ``numpy.random.Generator(PCG64(seed))`` so they are identical on every machine."""

    name = "randconv-v1"
    dim = 480
    widths = (32, 64, 128, 256)

    def __init__(self, seed: int = 20170324, batch_size: int = 64) -> None:
        rng = np.random.Generator(np.random.PCG64(seed))
        self.weights: list[torch.Tensor] = []
        cin = 3
        for c in self.widths:
            w = rng.standard_normal((c, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))
            self.weights.append(torch.from_numpy(w.astype(np.float32)))
            cin = c
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        batch = _as_rgb_batch(images, 64)
        feats = []
        for s in range(0, len(batch), self.batch_size):
            x = torch.from_numpy(batch[s : s + self.batch_size]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            parts = []
            for w in self.weights:
                x = F.avg_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)
                parts.append(x.mean(dim=(2, 3)))
            feats.append(torch.cat(parts, 1).double().numpy())
        return np.concatenate(feats)


class PixelExtractor:
    """16 x 16 grey thumbnails (area resize), each standardised to zero mean and unit norm, so a copy with a
    brightness/contrast change stays a near-copy."""

    name = "pixels-v1"
    dim = 256

    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        batch = _as_rgb_batch(images, 16).astype(np.float64)
        grey = batch.mean(axis=3).reshape(len(batch), -1)
        grey -= grey.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(grey, axis=1, keepdims=True)
        return grey / np.maximum(norm, 1e-8)


class InceptionExtractor:
    """The standard FID Inception-v3 from a local weights file (see ``fakevision.evaluate.inception``)."""

    dim = 2048

    def __init__(self, weights_path: str, device: str = "cpu", batch_size: int = 32) -> None:
        from fakevision.evaluate.inception import load_fid_inception

        self.net = load_fid_inception(weights_path).to(device)
        self.device = device
        self.batch_size = batch_size
        self.name = "inception-v3-fid-2015-12-05"

    @torch.no_grad()
    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        feats = []
        imgs = list(images) if not isinstance(images, np.ndarray) else images
        for s in range(0, len(imgs), self.batch_size):
            batch = _as_rgb_batch(imgs[s : s + self.batch_size], None if _same_size(imgs) else 299)
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).to(self.device)
            feats.append(self.net(x).double().cpu().numpy())
        return np.concatenate(feats)


def _same_size(images: np.ndarray | Sequence[np.ndarray]) -> bool:
    if isinstance(images, np.ndarray):
        return True
    return len({np.asarray(im).shape[:2] for im in images}) <= 1


def get_extractor(spec: str, device: str = "cpu") -> FeatureExtractor:
    """``"randconv-v1"``, ``"pixels-v1"`` or ``"inception:/path/to/weights.pth"``."""
    if spec == RandConvExtractor.name:
        return RandConvExtractor()
    if spec == PixelExtractor.name:
        return PixelExtractor()
    if spec.startswith("inception:"):
        return InceptionExtractor(spec.split(":", 1)[1], device=device)
    raise ValueError(f"unknown feature extractor {spec!r}; use randconv-v1, pixels-v1 or inception:<weights path>")
