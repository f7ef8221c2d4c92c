"""Face sources whose landmarks are exact: ``appearance_faces`` (the shape-appearance GAN; shipped weights, no input
data) and ``morph_faces`` (k real faces of a bundle warped onto one sampled shape and blended). Both write each face
with its 68 landmarks (``ibug68``; exactly the shape the pixels were warped onto) and the box of the pixels those
landmarks mark (``core.sample.boxes_from_keypoints``). Points outside the frame (tight crops cut the chin) are kept,
with visibility 1 (labelled, not visible).

Recipe sections::

    - type: appearance_faces
      count: 100
      model: pca64          # a shipped generator: pca64 (default; one PCA texture), yaw64 (a PCA per yaw bin) or
                            # began64 (BEGAN on shape-normalised faces; blurrier, measured in results/faces_table)
      weights: null         # an AppearanceGAN file (relative to the recipe); overrides model
      size: 64              # output side (64 or 128: G's face is warped straight onto a shape at that size)
      shape_sampling: kde   # kde (the training shapes' joint pose distribution) or gaussian
    - type: morph_faces
      count: 100
      bundle: faces.safetensors   # from `fakevision faces prepare` (its training split is the bank)
      k: 3                  # parents per face (>= 2)
      size: 64              # output side; the bank is resized to it
      blend: feather        # none | feather | poisson
      alpha: 4.0            # Dirichlet concentration of the parents' weights (larger: more equal)
      shape_sampling: kde

>>> from fakevision.core.source import make_sample
>>> s = make_sample(build_appearance_faces(AppearanceFacesConfig(count=2)), 0)
>>> s.image.shape, s.annotations.keypoints.shape, s.annotations.keypoint_schema.name
((64, 64, 3), (1, 68, 2), 'ibug68')
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from fakevision.core.errors import InputError
from fakevision.core.keypoints import schema
from fakevision.core.sample import OCCLUDED, VISIBLE, Annotations, boxes_from_keypoints
from fakevision.core.source import Made, RandomStreams, RecipePath, SourceConfig, SourceType

IBUG68 = schema("ibug68")  # the 68-point schema every face source writes


def face_annotations(points: np.ndarray, size: int, generator: str) -> Annotations:
    """One face instance with 68 landmarks (pixels, ours) in a ``size`` frame: visible where inside the frame, the
    box of the pixels the landmarks mark, clipped to the frame."""
    pts = np.asarray(points, np.float64)
    s = float(size)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= s) & (pts[:, 1] >= 0) & (pts[:, 1] <= s)
    vis = np.where(inside, VISIBLE, OCCLUDED).astype(np.uint8)
    box = boxes_from_keypoints(pts[None], np.ones((1, len(pts))), s, s)
    return Annotations(categories=["face"], boxes=box, keypoints=pts[None], visibility=vis[None],
                       keypoint_schema=IBUG68, attributes={"generator": generator})


def _existing(path: str | None, what: str) -> str | None:
    if not path:
        return None
    if not Path(path).is_file():
        raise InputError(f"{what} not found", path)
    return str(path)


def _label(path: str | None, shipped: str) -> str:
    """How provenance names a file: the shipped one by name, others by file name and content hash (a path would
    mean something only beside the recipe)."""
    if path is None:
        return shipped
    from fakevision.gan.source import _sha256

    return f"{Path(path).name}@sha256:{_sha256(Path(path))[:12]}"


# -- appearance_faces --------------------------------------------------------------------------------------------
class AppearanceFacesConfig(SourceConfig):
    """``type: appearance_faces`` (see the module doc)."""

    type: Literal["appearance_faces"] = "appearance_faces"
    model: Literal["pca64", "yaw64", "began64"] = "pca64"
    weights: RecipePath | None = None
    size: int = Field(64, ge=16, le=512)
    shape_sampling: Literal["kde", "gaussian"] = "kde"


@functools.lru_cache(maxsize=4)
def _appearance(path: str | None) -> Any:
    from fakevision.faces.appearance import AppearanceGAN

    return AppearanceGAN.load(path)


class AppearanceFacesSource:
    """Face ``index``: z ~ U(-1, 1) and a shape from ``rng``; image = G(z) warped onto the shape."""

    def __init__(self, cfg: AppearanceFacesConfig, path: str | None) -> None:
        from fakevision.faces.appearance import SHIPPED

        self.name, self.cfg, self.path = cfg.source_name, cfg, path
        shipped = SHIPPED[cfg.model]
        self.gan = _appearance(path or str(shipped))
        self.label = _label(path, f"shipped:{shipped.stem}")

    def make(self, index: int, streams: RandomStreams) -> Made:
        import torch

        gan, rng = self.gan, streams.rng
        z = rng.uniform(-1.0, 1.0, size=(1, gan.z_dim)).astype(np.float32)
        shape = gan.sample_shapes(1, rng, self.cfg.size, self.cfg.shape_sampling)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one face is too small to split across threads (see gan.source)
        try:
            faces, pts = gan.generate(torch.from_numpy(z), rng, self.cfg.size, shapes=shape)
        finally:
            torch.set_num_threads(threads)
        params = {"z": [round(float(v), 7) for v in z[0]], "landmarks": np.round(pts[0], 4).tolist(),
                  "weights": self.label, "shape_sampling": self.cfg.shape_sampling}
        return Made(faces[0], face_annotations(pts[0], self.cfg.size, "shape-appearance"), params)


def build_appearance_faces(cfg: AppearanceFacesConfig) -> AppearanceFacesSource:
    """Builder registered for ``type: appearance_faces`` (``weights`` already resolved): loads once per process."""
    return AppearanceFacesSource(cfg, _existing(cfg.weights, "appearance_faces weights file"))


# -- morph_faces -------------------------------------------------------------------------------------------------
class MorphFacesConfig(SourceConfig):
    """``type: morph_faces`` (see the module doc)."""

    type: Literal["morph_faces"] = "morph_faces"
    bundle: RecipePath
    k: int = Field(3, ge=2, le=16)
    size: int = Field(64, ge=16, le=512)
    blend: Literal["none", "feather", "poisson"] = "feather"
    alpha: float = Field(4.0, gt=0.0)
    shape_sampling: Literal["kde", "gaussian"] = "kde"


@functools.lru_cache(maxsize=2)
def _bank(path: str, size: int) -> Any:
    from fakevision.faces.morph import FaceBank

    return FaceBank.from_bundle(path, size=size)


class MorphFacesSource:
    """Face ``index``: a target shape, k parents, Dirichlet weights, all from ``rng`` (``faces.morph``)."""

    def __init__(self, cfg: MorphFacesConfig, path: str) -> None:
        self.name, self.cfg, self.path = cfg.source_name, cfg, path
        self.bank = _bank(path, cfg.size)
        if len(self.bank) < cfg.k:
            raise InputError(f"the bundle's training split has {len(self.bank)} faces, fewer than k = {cfg.k}", path)
        self.label = _label(path, "")
        self.files = self.bank.files

    def make(self, index: int, streams: RandomStreams) -> Made:
        from fakevision.faces.morph import morph_face

        c = self.cfg
        image, pts, info = morph_face(self.bank, streams.rng, k=c.k, alpha=c.alpha, blend=c.blend,
                                      method=c.shape_sampling)
        params = {"parent_rows": info["parents"], "weights": [round(w, 7) for w in info["weights"]],
                  "landmarks": np.round(pts, 4).tolist(), "blend": c.blend, "bundle": self.label}
        parents = [self.files[j] for j in info["parents"]] if self.files else []
        return Made(image, face_annotations(pts, c.size, "morph"), params, parents)


def build_morph_faces(cfg: MorphFacesConfig) -> MorphFacesSource:
    """Builder registered for ``type: morph_faces`` (``bundle`` already resolved): loads the bank once per
    process."""
    path = _existing(cfg.bundle, "morph_faces bundle")
    assert path is not None
    return MorphFacesSource(cfg, path)


APPEARANCE_FACES = SourceType(AppearanceFacesConfig, build_appearance_faces,
                              "new faces from the shape-appearance generator, 68 landmarks exact by construction "
                              "(no input data)")
MORPH_FACES = SourceType(MorphFacesConfig, build_morph_faces,
                         "k real faces of a face bundle warped onto one sampled shape and blended; 68 exact "
                         "landmarks")
