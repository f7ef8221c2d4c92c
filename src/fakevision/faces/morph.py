"""Morphed faces: k real faces of compatible pose warped onto one sampled target shape and blended. The landmarks
are the target shape, exactly — every parent's landmarks are moved onto it by the exact piecewise-affine warp
(``augment.functional.dense``), so the blended eyes, nose and mouth sit where the written points say.

How a face is made (``morph_face``):

1. the target shape: a sample of the shape model conditioned on the bank's own shapes (so it is framed like the
   bank's faces and its pose is one the bank has), or a given shape;
2. the parents: the ``pool`` bank faces whose shapes are nearest the target (distance in the model's mode
   coefficients, each scaled by its spread: pose dominates the first modes, so near = compatible pose), of which
   ``k`` are drawn, at most one per person where the bank has identity labels;
3. the weights: convex, Dirichlet(``alpha``) — alpha > 1 keeps them near equal, so no single parent dominates
   (the identity-leak check measures how much that matters at each k);
4. the blend: ``none`` (the weighted mean of the warped parents everywhere), ``feather`` (the weighted mean inside
   the face — the landmarks' convex hull, raised over the brows — and the heaviest parent's hair and background
   outside it, with a feathered edge: no ghosted double hair lines), or ``poisson`` (the blended face cloned into
   the heaviest parent's warped image with ``cv2.seamlessClone``: its colours follow the surround).

A ``FaceBank`` holds the faces a source morphs from (a bundle's training split, at the output size), with their
shape-model coefficients and a KD-tree over them.

>>> import numpy as np
>>> bank = FaceBank.synthetic(40, size=64, seed=0)
>>> face, pts, info = morph_face(bank, np.random.default_rng(0), k=3)
>>> face.shape, pts.shape, len(info["parents"]), round(sum(info["weights"]), 6)
((64, 64, 3), (68, 2), 3, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fakevision.core.errors import InputError
from fakevision.faces.shape import ShapeModel

BLENDS = ("none", "feather", "poisson")


@dataclass
class FaceBank:
    """Faces to morph from: ``faces`` N x S x S x 3 uint8, ``landmarks`` N x 68 x 2 (pixels), ``identity`` N ints
    (-1: unknown), the shape model conditioned on these shapes, and each face's scaled mode coefficients."""

    faces: np.ndarray
    landmarks: np.ndarray
    identity: np.ndarray
    shape_model: ShapeModel
    coords: np.ndarray  # N x K: b / sd
    source: str = ""
    files: list[str] | None = None  # each face's source file (the bundle's metadata), the morphs' parents

    def __post_init__(self) -> None:
        from scipy.spatial import cKDTree

        self.tree = cKDTree(self.coords)

    @property
    def size(self) -> int:
        return int(self.faces.shape[1])

    def __len__(self) -> int:
        return len(self.faces)

    @classmethod
    def build(cls, faces: np.ndarray, landmarks: np.ndarray, identity: np.ndarray | None = None,
              shape_model: ShapeModel | None = None, source: str = "", files: list[str] | None = None) -> FaceBank:
        faces = np.ascontiguousarray(faces)
        lms = np.asarray(landmarks, np.float64)
        side = faces.shape[1]
        model = (shape_model or ShapeModel.load()).conditioned_on(lms / side)
        b, _ = model.params(lms / side)
        ident = np.full(len(faces), -1, np.int64) if identity is None else np.asarray(identity, np.int64)
        return cls(faces, lms, ident, model, b / model.sd, source, files)

    @classmethod
    def from_bundle(cls, path: str | Path, size: int | None = None, split: int = 0,
                    limit: int | None = None) -> FaceBank:
        """The faces of ``split`` (0: training) of a bundle from ``fakevision faces prepare``, resized to ``size``
        (INTER_AREA; landmarks scaled with them), at most ``limit`` (the first ones)."""
        from fakevision.gan.data import load_bundle

        b = load_bundle(path)
        if "landmarks" not in b:
            raise InputError("this face bundle has no landmarks (prepare it with --landmarks dlib)", path)
        keep = np.flatnonzero(b["faces_split"] == split)[:limit]
        if not len(keep):
            raise InputError(f"no faces of split {split} in this bundle", path)
        faces, lms = b["faces"][keep], b["landmarks"][keep].astype(np.float64)
        side = faces.shape[1]
        if size is not None and size != side:
            faces = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA if size < side
                                         else cv2.INTER_CUBIC) for f in faces])
            lms = lms * (size / side)
        ident = b["label_identity"][keep] if "label_identity" in b else None
        files = None
        try:
            import json

            from safetensors import safe_open

            with safe_open(str(path), "np") as fh:
                names = json.loads((fh.metadata() or {}).get("files", "null"))
            if names is not None and len(names) == len(b["faces"]):
                files = [names[i] for i in keep]
        except (ValueError, OSError):
            files = None
        return cls.build(faces, lms, ident, source=str(path), files=files)

    @classmethod
    def synthetic(cls, n: int, size: int = 64, seed: int = 0) -> FaceBank:
        """A bank of ``n`` drawn 'faces' (shapes from the shipped model, smooth random colours, features painted at
        the landmarks) for tests and examples that must run without face data."""
        rng = np.random.default_rng(seed)
        model = ShapeModel.load()
        lms = model.sample(n, rng, size=size)
        faces = np.empty((n, size, size, 3), np.uint8)
        for i in range(n):
            base = rng.integers(40, 200, 3)
            img = np.empty((size, size, 3), np.uint8)
            img[:] = base
            hull = cv2.convexHull(np.round(lms[i] * 16).astype(np.int32))
            cv2.fillConvexPoly(img, hull, tuple(int(v) for v in rng.integers(120, 240, 3)), cv2.LINE_AA, 4)
            for p in np.round(lms[i] * 16).astype(np.int32):
                cv2.circle(img, tuple(int(v) for v in p), 16, (30, 20, 20), -1, cv2.LINE_AA, 4)
            faces[i] = img
        return cls.build(faces, lms, np.arange(n) // 2, model, source="synthetic")


def choose_parents(bank: FaceBank, target_coords: np.ndarray, k: int, rng: np.random.Generator,
                   pool: int | None = None) -> np.ndarray:
    """``k`` bank indices drawn from the ``pool`` faces nearest the target in scaled mode coefficients, at most one
    per known identity (when the pool has too few people, the nearest others fill up)."""
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    if len(bank) < k:
        raise InputError(f"the face bank has {len(bank)} faces, fewer than k = {k}")
    pool = min(len(bank), max(pool or 8 * k, k))
    _, near = bank.tree.query(target_coords, pool)
    near = np.atleast_1d(near)
    order = near[rng.permutation(len(near))]
    chosen: list[int] = []
    seen: set[int] = set()
    for j in order:
        ident = int(bank.identity[j])
        if ident >= 0 and ident in seen:
            continue
        chosen.append(int(j))
        if ident >= 0:
            seen.add(ident)
        if len(chosen) == k:
            break
    for j in near:  # too few distinct people nearby: take the nearest faces left
        if len(chosen) == k:
            break
        if int(j) not in chosen:
            chosen.append(int(j))
    return np.asarray(chosen, np.int64)


def face_mask(points: np.ndarray, size: int, feather: float) -> np.ndarray:
    """A soft mask (size x size float32 in [0, 1]) of the face: the convex hull of the landmarks with the brows
    raised by a third of the brow-to-nose-tip height (the forehead), eroded by ``feather`` px and blurred over
    ``feather`` px, so the edge falls inside the face region."""
    p = np.asarray(points, np.float64).copy()
    brow = p[17:27]
    lift = (p[30, 1] - brow[:, 1].mean()) / 3.0
    top = brow - [0.0, lift]
    hull = cv2.convexHull(np.round(np.concatenate([p, top]) * 16 - 8).astype(np.int32))
    m = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(m, hull, 255, cv2.LINE_AA, 4)
    if feather > 0:
        r = max(1, int(round(feather)))
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        m = cv2.GaussianBlur(m, (0, 0), feather)
    return m.astype(np.float32) / 255.0


def morph_face(bank: FaceBank, rng: np.random.Generator, k: int = 3, target: np.ndarray | None = None,
               alpha: float = 4.0, blend: str = "feather", pool: int | None = None, method: str = "kde",
               feather: float | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One morphed face at the bank's size: (S x S x 3 uint8 image, 68 x 2 landmarks in pixels = the target
    shape, info: parents, weights, blend). ``target``: a shape to morph onto (pixels); default a sample of the
    bank's shape model (``method``: kde or gaussian). See the module doc for the other arguments."""
    from fakevision.augment.functional.dense import PiecewiseAffineWarp, remap_array

    if blend not in BLENDS:
        raise InputError(f"unknown blend {blend!r} (one of {', '.join(BLENDS)})")
    if alpha <= 0:
        raise InputError(f"alpha must be > 0, got {alpha}")
    s = bank.size
    model = bank.shape_model
    if target is None:
        b, _, shape = model.sample_params(1, rng, method=method)
        target = shape[0] * s
        coords = b[0] / model.sd
    else:
        target = np.asarray(target, np.float64)
        coords = model.params(target / s)[0] / model.sd
    parents = choose_parents(bank, coords, k, rng, pool)
    w = rng.dirichlet(np.full(len(parents), alpha))
    warp = PiecewiseAffineWarp(target, (s, s))
    maps = warp.maps(bank.landmarks[parents])
    warped = np.stack([remap_array(bank.faces[j], m, nearest=False, border="replicate")
                       for j, m in zip(parents, maps)]).astype(np.float32)
    mixed = np.tensordot(w, warped, 1)
    if blend != "none":
        top = warped[int(np.argmax(w))]
        fr = feather if feather is not None else max(1.0, s / 32)
        if blend == "feather":
            m = face_mask(target, s, fr)[:, :, None]
            mixed = m * mixed + (1 - m) * top
        else:
            hard = (face_mask(target, s, 0.0) > 0.5).astype(np.uint8) * 255
            hard = cv2.erode(hard, np.ones((3, 3), np.uint8))
            ys, xs = np.nonzero(hard)
            if len(xs):
                centre = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))
                src = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
                dst = np.clip(np.round(top), 0, 255).astype(np.uint8)
                try:
                    mixed = cv2.seamlessClone(src, dst, hard, centre, cv2.NORMAL_CLONE).astype(np.float32)
                except cv2.error:  # a mask touching the frame on all sides: keep the plain blend
                    pass
    image = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    return image, target, {"parents": parents.tolist(), "weights": [float(v) for v in w], "blend": blend}
