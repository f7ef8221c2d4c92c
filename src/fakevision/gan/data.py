"""Training data for the GANs, preloaded as one tensor file.

Why one file: a GAN step at 64x64 costs milliseconds on a GPU and the data sets are small (a few thousand faces),
so decoding JPEGs per step would dominate; and the GPU machine only receives the working tree, so the faces travel
as one git-ignored safetensors file built here by ``prepare_face_bundle``.

Bundle keys: ``faces`` (N x S x S x 3 uint8), ``landmarks`` (N x 68 x 2 float32, our corner convention, pixels of
the S x S image), ``faces_split`` (N int8: 0 = train = helen_train + afw, 1 = held out = helen_test),
``utk`` (M x S x S x 3 uint8), ``utk_gender`` (M int64: 0 male, 1 female), ``utk_age`` (M int64).

>>> yaw_proxy(np.array([[[0.0, 0], [10, 0], [5, 0]]]), left=0, right=1, nose=2).tolist()
[0.0]
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import torch

from fakevision.core.errors import InputError
from fakevision.core.keypoints import get_schema
from fakevision.io.images import read_image

FACE_SPLITS = {"helen_train": 0, "afw": 0, "helen_test": 1}
CROP_SIDE = 160  # faces_68pt crops are 160 x 160


def yaw_proxy(landmarks: np.ndarray, left: int = 0, right: int = 16, nose: int = 30) -> np.ndarray:
    """A head-yaw proxy in about [-1, 1] from 68 landmarks: the nose tip's offset from the middle of the jaw span,
    divided by half that span. 0 = frontal; the sign says which way the head turns. It is not degrees: it is the
    quantity VAR+GAN conditions on and is measured against, computed the same way on real and generated faces."""
    lm = np.asarray(landmarks, dtype=np.float64)
    xl, xr, xn = lm[..., left, 0], lm[..., right, 0], lm[..., nose, 0]
    half = np.maximum((xr - xl) / 2.0, 1e-6)
    return (xn - (xl + xr) / 2.0) / half


def flip_landmarks(landmarks: np.ndarray, size: float) -> np.ndarray:
    """Mirror (... x 68 x 2) landmarks for a horizontally flipped image: x -> size - x and swap left/right names."""
    perm = list(get_schema("ibug68").flip_perm)
    out = np.array(landmarks, dtype=np.float64, copy=True)[..., perm, :]
    out[..., 0] = size - out[..., 0]
    return out


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def load_faces_68pt(root: str | Path, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read ``faces_68pt`` (images + 300-W ``.pts``) resized to ``size``; returns (faces, landmarks, split).

    300-W points are 1-based (pixel centres at integers); ours are corner-based: x_ours = x_pts - 0.5, then scaled
    by size / 160 about the corner (0, 0).
    """
    from fakevision.io.readers.pts import PTS_OFFSET, parse_pts

    root = Path(root)
    faces, lms, split = [], [], []
    for sub, code in FACE_SPLITS.items():
        folder = root / sub
        if not folder.is_dir():
            raise InputError(f"missing folder {sub}/ (expected the faces_68pt layout)", root)
        for jpg in sorted(folder.glob("*.jpg")):
            img = read_image(jpg)
            if img.shape[:2] != (CROP_SIDE, CROP_SIDE):
                raise InputError(f"expected a {CROP_SIDE}x{CROP_SIDE} crop, got {img.shape[1]}x{img.shape[0]}", jpg)
            pts = parse_pts(jpg.with_suffix(".pts"), expected=68)
            faces.append(_resize(img, size))
            lms.append((pts + PTS_OFFSET) * (size / CROP_SIDE))
            split.append(code)
    if not faces:
        raise InputError("no faces found", root)
    return np.stack(faces), np.stack(lms).astype(np.float32), np.asarray(split, np.int8)


def load_utkface(root: str | Path, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a UTKFace subset with ``labels.csv`` (path, age, gender, ...); returns (faces, gender, age)."""
    root = Path(root)
    table = root / "labels.csv"
    if not table.is_file():
        raise InputError("labels.csv not found", root)
    faces, gender, age = [], [], []
    with table.open(newline="") as f:
        for row in csv.DictReader(f):
            faces.append(_resize(read_image(root / row["path"]), size))
            gender.append(int(row["gender"]))
            age.append(int(row["age"]))
    return np.stack(faces), np.asarray(gender, np.int64), np.asarray(age, np.int64)


def prepare_face_bundle(data_root: str | Path, out: str | Path, size: int = 64) -> dict[str, int]:
    """Preprocess ``faces_68pt`` and ``utkface_random_200`` under ``data_root`` into one safetensors file."""
    from safetensors.numpy import save_file

    data_root = Path(data_root)
    faces, lms, split = load_faces_68pt(data_root / "faces_68pt", size)
    utk, gender, age = load_utkface(data_root / "utkface_random_200", size)
    tensors = {"faces": faces, "landmarks": lms, "faces_split": split, "utk": utk, "utk_gender": gender,
               "utk_age": age}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"size": str(size)})
    return {"faces": len(faces), "train": int((split == 0).sum()), "held_out": int((split == 1).sum()),
            "utk": len(utk)}


def load_bundle(path: str | Path) -> dict[str, np.ndarray]:
    """Load a bundle written by ``prepare_face_bundle``."""
    from safetensors.numpy import load_file

    p = Path(path)
    if not p.is_file():
        raise InputError("face bundle not found (make it with `fakevision faces prepare` or "
                         "fakevision.gan.data.prepare_face_bundle)", p)
    return load_file(str(p))


def to_unit_range(images_u8: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float32 torch N x 3 x H x W in [-1, 1] (the GANs' pixel range)."""
    t = torch.from_numpy(np.ascontiguousarray(images_u8)).permute(0, 3, 1, 2).float()
    return t.div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float torch N x 3 x H x W in [-1, 1] -> uint8 N x H x W x 3 (clipped, rounded)."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().cpu().numpy()
