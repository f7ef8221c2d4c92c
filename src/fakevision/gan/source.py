"""The ``gan_faces`` source: new faces from the shipped BEGAN, each with its 68 landmarks from the landmark generator.

Why a source: the default recipe can then write generated faces *with* their annotation (COCO keypoints, ibug68
schema) next to rendered scenes, with no input data. z is drawn from the per-sample generator the engine hands
to ``make``, so sample ``i`` is the same bytes whichever worker makes it (forward passes run one face at a time
on the CPU, in float32, so batch composition cannot change the numbers).

Recipe section::

    - type: gan_faces
      count: 100
      truncation: 0.9     # z ~ U(-t, t), the default: smaller t = better landmarks, faces nearer the training set
      size: 64            # output side; 128 upsamples G's 64x64 face and scales the landmarks with it
      generator: auto     # fast: the distilled narrow generator (same z, same landmarks, 2.2-2.4x faster on a
                          # CPU); full: BEGAN's G itself; auto: fast when the weights hold one

>>> from fakevision.core.source import make_sample
>>> src = build_gan_faces(GanFacesConfig(count=2))
>>> s = make_sample(src, 0)
>>> s.image.shape, s.annotations.keypoints.shape, s.annotations.keypoint_schema.name, s.annotations.categories
((64, 64, 3), (1, 68, 2), 'ibug68', ['face'])
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from pydantic import Field

from fakevision.core.errors import InputError
from fakevision.core.keypoints import get_schema
from fakevision.core.sample import OCCLUDED, VISIBLE, Annotations, boxes_from_keypoints
from fakevision.core.source import Made, RandomStreams, RecipePath, SourceConfig, SourceType
from fakevision.gan.model import FaceGAN


class GanFacesConfig(SourceConfig):
    """``type: gan_faces``. ``weights``: a FaceGAN safetensors file (relative to the recipe), default the shipped
    64x64 model; ``truncation`` in (0, 1]; ``size``: output side (multiple of the model's side not required);
    ``generator``: ``fast`` / ``full`` / ``auto`` (see the module docstring).

    Why ``truncation`` defaults to 0.9 (``experiments/gan_truncation.py``, 1,000 faces per value, shipped model):
    smaller t gives faces whose landmarks agree better with independent detectors (NME of L(z) vs dlib 0.221 at 1.0,
    0.200 at 0.9, 0.182 at 0.8, 0.146 at 0.6) but that sit closer to the training faces (memorisation flags in
    pixel space 1.2 %, 2.4 %, 4.0 %, 14.1 %; 2 % by chance); 0.9 keeps the privacy score at chance level with
    FID/KID unchanged."""

    type: Literal["gan_faces"] = "gan_faces"
    weights: RecipePath | None = None
    truncation: float = Field(0.9, gt=0.0, le=1.0)
    size: int = Field(64, ge=16, le=1024)
    generator: Literal["auto", "fast", "full"] = "auto"


@functools.lru_cache(maxsize=4)
def _load_model(path: str | None) -> FaceGAN:
    return FaceGAN.load(path)


class GanFacesSource:
    """Makes face ``index``: z ~ U(-t, t)^z_dim from ``rng``, image = G(z), landmarks = L(z)."""

    def __init__(self, cfg: GanFacesConfig, model: FaceGAN, weights_label: str) -> None:
        self.name = cfg.source_name
        self.cfg, self.model, self.weights_label = cfg, model, weights_label
        self.fast = cfg.generator == "fast" or (cfg.generator == "auto" and model.has_fast)

    def make(self, index: int, streams: RandomStreams) -> Made:
        t = self.cfg.truncation
        z = streams.rng.uniform(-t, t, size=(1, self.model.z_dim)).astype(np.float32)
        # One face is too small a job to split across threads: on 2 busy cores torch's default of one thread per
        # core made make() 9 faces/s against 84 with one thread (benchmarks/gan.py). Engine workers parallelise.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                faces, lm = self.model.generate(torch.from_numpy(z), fast=self.fast)
        finally:
            torch.set_num_threads(threads)
        image, pts = faces[0], lm[0]
        side = self.model.size
        if self.cfg.size != side:
            image = cv2.resize(image, (self.cfg.size, self.cfg.size), interpolation=cv2.INTER_LINEAR)
            pts = pts * (self.cfg.size / side)  # corner convention: scaling about (0, 0) is exact
        s = float(self.cfg.size)
        inside = (pts[:, 0] >= 0) & (pts[:, 0] <= s) & (pts[:, 1] >= 0) & (pts[:, 1] <= s)
        vis = np.where(inside, VISIBLE, OCCLUDED).astype(np.uint8)
        box = boxes_from_keypoints(pts[None], np.ones((1, len(pts))), s, s)  # the pixels the landmarks mark
        ann = Annotations(categories=["face"], boxes=box, keypoints=pts[None], visibility=vis[None],
                          keypoint_schema=get_schema("ibug68"), attributes={"generator": "began"})
        params = {"z": [round(float(v), 7) for v in z[0]], "truncation": t, "weights": self.weights_label,
                  "generator": "fast" if self.fast else "full"}
        return Made(image, ann, params)


def build_gan_faces(cfg: GanFacesConfig) -> GanFacesSource:
    """Builder registered for ``type: gan_faces`` (``weights`` already resolved): loads the weights once per
    process. Provenance names custom weights by file name and content hash (``faces.safetensors@sha256:<12 hex>``):
    a path would only mean something beside the recipe, the hash says which weights made the face anywhere."""
    path: str | None = None
    label = "shipped:faces64"
    if cfg.weights:
        p = Path(cfg.weights)
        if not p.is_file():
            raise InputError("gan_faces weights file not found", p)
        path = str(p)
        label = f"{p.name}@sha256:{_sha256(p)[:12]}"
    model = _load_model(path)
    if cfg.generator == "fast" and not model.has_fast:
        raise InputError("generator: fast asked for, but these weights hold no fast generator (F); use full or auto",
                         path or "shipped faces64")
    return GanFacesSource(cfg, model, label)


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


GAN_FACES = SourceType(GanFacesConfig, build_gan_faces,
                       "new 64x64 faces from the shipped BEGAN, each with 68 landmarks (ibug68) from the landmark "
                       "generator")
