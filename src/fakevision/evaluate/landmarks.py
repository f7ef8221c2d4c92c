"""Facial landmarks as a protocol task: 68-point faces in, NME / failure rate / AUC out.

**Data** (``load_landmarks``): any readable landmark set -- a folder of images with 300-W ``.pts`` files (e.g.
``faces_68pt``), a COCO keypoints file, a dlib imglab XML, a fakevision output folder (``make`` / ``augment`` /
``gan-faces``...), or a face bundle (``.safetensors`` from ``fakevision faces prepare``). Every face (every instance
with 68 ``ibug68`` points) is *framed* the same way, whatever set it comes from: faces_68pt's own crop rule on its
landmarks (square, side 1.6 x the landmark extent, centre raised by 0.08 of the side; ``gan.faceprep.CROP_RULES``),
padded by mirroring the photo where the square leaves it, resized (area) to ``size`` x ``size``, grey by
default. So a model never learns a set's framing instead of the face, and fake sets framed differently (UTKFace's
tight crops, 64 px GAN faces) are comparable with the real one. Landmarks move with the crop exactly (corner
convention, design.md section 3): ``x' = (x - left) * size / side``.

**Metrics** (``landmark_metrics``), per face e = NME normalised by the distance between the eye centres
(``gan.mapping.nme_per_face``, the project's one definition), then over the test set: ``nme`` = mean e (primary),
``fr10`` = failure rate, the fraction with e > 0.10, ``auc08`` = area under the cumulative error curve up to 0.08,
divided by 0.08 (1 = every face perfect).

**Model and training** (``LandmarkTask``): ``models.LandmarkNet`` (heatmap + soft-argmax by default; direct regression
on request), L1 loss on coordinates in [0, 1], AdamW + cosine over a fixed number of steps, the step with the best
validation NME kept. Augmentation (``augment="face"``) runs the project's ``face`` preset -- flips swap the landmark
names through the schema, affine warps move the points through the same matrix as the pixels.

>>> e = np.array([0.02, 0.05, 0.12])
>>> m = error_metrics(e); round(m["nme"], 4), round(m["fr10"], 4), round(m["auc08"], 4)
(0.0633, 0.3333, 0.375)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakevision.core.errors import InputError
from fakevision.core.keypoints import get_schema
from fakevision.core.sample import Annotations, Sample
from fakevision.evaluate.fit import DenseTask, FitConfig
from fakevision.evaluate.task import ArraySet, Metric

POINTS = 68
SCHEMA = "ibug68"
FRAME_MARGIN, FRAME_SHIFT = 1.6, -0.08  # = gan.faceprep.CROP_RULES["landmarks"]: faces_68pt's rule
FAILURE_AT, AUC_LIMIT = 0.10, 0.08
METRICS = (
    Metric("nme", "NME", higher_is_better=False),
    Metric("fr10", "failure rate @0.10", higher_is_better=False, percent=True),
    Metric("auc08", "AUC @0.08", higher_is_better=True),
)


# -- metrics ----------------------------------------------------------------------------------------------------------

def error_metrics(errors: np.ndarray) -> dict[str, float]:
    """NME, failure rate at 0.10 and AUC at 0.08 from per-face normalised errors (module docstring).

    AUC is exact: the cumulative error curve F(t) integrated from 0 to a, over a, equals the mean of
    max(0, a - e_i) / a.
    """
    e = np.asarray(errors, np.float64)
    if e.size == 0:
        return {"nme": float("nan"), "fr10": float("nan"), "auc08": float("nan")}
    return {"nme": float(e.mean()), "fr10": float((e > FAILURE_AT).mean()),
            "auc08": float(np.clip(AUC_LIMIT - e, 0.0, None).mean() / AUC_LIMIT)}


def landmark_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """``error_metrics`` of predicted vs true landmarks (N x 68 x 2, same units)."""
    from fakevision.gan.mapping import nme_per_face

    return error_metrics(nme_per_face(pred, gt))


# -- data -------------------------------------------------------------------------------------------------------------

def frame_face(image: np.ndarray, points: np.ndarray, size: int, margin: float = FRAME_MARGIN,
               shift: float = FRAME_SHIFT) -> tuple[np.ndarray, np.ndarray]:
    """Crop the face of ``points`` (68 x 2, ours) out of ``image`` with the landmark crop rule, padding by mirroring
    the image where the square leaves it; returns (``size`` x ``size`` x C uint8, moved points).

    >>> img = np.zeros((100, 100, 3), np.uint8); pts = np.array([[40.0, 40.0], [60.0, 60.0]])
    >>> crop, moved = frame_face(img, pts, 32)
    >>> crop.shape, moved.round(2).tolist()
    ((32, 32, 3), [[6.0, 9.0], [26.0, 29.0]])
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    lo, hi = points.min(0), points.max(0)
    side = max(2, int(round(margin * float(max(hi - lo)))))
    cx, cy = (lo + hi) / 2 + [0.0, shift * side]
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    h, w = img.shape[:2]
    pad_l, pad_t = max(0, -left), max(0, -top)
    pad_r, pad_b = max(0, left + side - w), max(0, top + side - h)
    if pad_l or pad_t or pad_r or pad_b:  # mirror the photo where it can (no streaks), else repeat its edge
        border = cv2.BORDER_REFLECT_101 if max(pad_l, pad_r) < w and max(pad_t, pad_b) < h else cv2.BORDER_REPLICATE
        img = cv2.copyMakeBorder(np.ascontiguousarray(img), pad_t, pad_b, pad_l, pad_r, border)
        if img.ndim == 2:
            img = img[:, :, None]
    region = img[top + pad_t : top + pad_t + side, left + pad_l : left + pad_l + side]
    interp = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
    crop = cv2.resize(np.ascontiguousarray(region), (size, size), interpolation=interp)
    if crop.ndim == 2:
        crop = crop[:, :, None]
    moved = (np.asarray(points, np.float64) - [left, top]) * (size / side)
    return crop, moved.astype(np.float32)


def _channels(img: np.ndarray, grey: bool) -> np.ndarray:
    img = img if img.ndim == 3 else img[:, :, None]
    if grey and img.shape[2] >= 3:
        return cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)[:, :, None]
    if not grey and img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return img[:, :, :3]


def is_output_folder(p: Path) -> bool:
    """A folder written by fakevision (make / augment / smart): it has a manifest, COCO, shards or an image folder
    of the writers."""
    return p.is_dir() and any((p / f).exists() for f in ("manifest.jsonl", "coco/annotations.json", "webdataset"))


def open_samples(path: str | Path, what: str = "annotations", want_labels: bool = False) -> tuple[int, Any, Any]:
    """(count, load(i) -> Sample, parents(i) -> list of ids or None) for any readable data set: a fakevision output
    folder (``FakevisionDataset``; parents from provenance) or any format ``fakevision.io.readers`` detects (a CSV
    or class-folder set is refused unless ``want_labels``: it cannot hold ``what``)."""
    p = Path(path)
    if is_output_folder(p):
        from fakevision.io.dataset import FakevisionDataset

        ds = FakevisionDataset(p)
        return len(ds), ds.to_sample, lambda s: list(s.provenance.parents)
    from fakevision.io.readers import detect_format, open_reader

    fmt = detect_format(p)
    if fmt in ("csv", "folder") and not want_labels:
        raise InputError(f"a {fmt} data set holds class labels only, not {what} (give e.g. a folder with 300-W "
                         ".pts files, a COCO file, image/mask pairs, a face bundle or a fakevision output)", p)
    r = open_reader(fmt, p)
    return len(r), r.__getitem__, lambda s: None


def load_landmarks(path: str | Path, size: int = 64, grey: bool = True, limit: int | None = None,
                   name: str | None = None) -> ArraySet:
    """Every 68-point face of the data set at ``path`` (module docstring), framed at ``size``; ``ids`` are the
    samples' ids (``#k`` added for the k-th face of an image with several), ``groups`` the top folder of each id
    (faces_68pt: ``helen_train`` / ``afw`` / ``helen_test``), ``parents`` from provenance for fakevision outputs.
    ``limit`` reads only the first ``limit`` samples. A set without any 68-point face is an ``InputError``."""
    p = Path(path)
    if p.suffix == ".safetensors":
        return _load_bundle(p, size, grey, limit, name)
    n, load, parents_of = open_samples(p, f"{POINTS} landmarks")
    imgs, pts, ids, groups, parents = [], [], [], [], []
    has_parents = True
    for i in range(n if limit is None else min(n, limit)):
        s = load(i)
        a = s.annotations
        schema = getattr(a.keypoint_schema, "name", a.keypoint_schema)  # a KeypointSchema value (or a name)
        if a.keypoints is None or a.keypoints.shape[1] != POINTS or schema not in (None, SCHEMA):
            continue
        par = parents_of(s)
        has_parents &= par is not None
        image = _channels(s.image, grey)
        for k in range(len(a.keypoints)):
            crop, moved = frame_face(image, a.keypoints[k], size)
            imgs.append(crop)
            pts.append(moved)
            ids.append(s.id if len(a.keypoints) == 1 else f"{s.id}#{k}")
            groups.append(s.id.split("/", 1)[0] if "/" in s.id else "")
            parents.append(par or [])
    if not imgs:
        raise InputError(f"no faces with {POINTS} landmarks ({SCHEMA}) found", p)
    return ArraySet(np.stack(imgs), np.stack(pts), ids, name or p.name, [SCHEMA], groups,
                    parents if has_parents else None)


def _load_bundle(p: Path, size: int, grey: bool, limit: int | None, name: str | None) -> ArraySet:
    import json

    from safetensors import safe_open

    from fakevision.gan.data import load_bundle

    b = load_bundle(p)
    if "landmarks" not in b or "faces" not in b:
        raise InputError("face bundle has no landmarks (made with --landmarks none?)", p)
    faces, lms = b["faces"], b["landmarks"]
    try:
        with safe_open(str(p), "np") as f:
            files = json.loads((f.metadata() or {}).get("files", "[]"))
    except (OSError, ValueError):
        files = []
    if len(files) != len(faces):
        files = [f"{i:06d}" for i in range(len(faces))]
    n = len(faces) if limit is None else min(len(faces), limit)
    imgs, pts = [], []
    for i in range(n):
        crop, moved = frame_face(_channels(faces[i], grey), lms[i].astype(np.float64), size)
        imgs.append(crop)
        pts.append(moved)
    split = b.get("faces_split")
    groups = ["held_out" if split is not None and split[i] == 1 else "train" for i in range(n)]
    return ArraySet(np.stack(imgs), np.stack(pts), files[:n], name or p.stem, [SCHEMA], groups, None)


def write_face_bundle_of(data: ArraySet, path: str | Path) -> Path:
    """``data`` (framed faces with landmarks) as a face bundle -- the file ``fakevision faces prepare`` writes and
    face sources such as ``morph_faces`` read: ``faces`` (RGB), ``landmarks``, ``faces_split`` (all training), ids
    as the ``files`` metadata (so what is made from them names them as parents). Atomic."""
    import json

    from safetensors.numpy import save

    from fakevision.io.atomic import atomic_write_bytes

    faces = data.images if data.images.shape[-1] == 3 else np.repeat(data.images[..., :1], 3, axis=-1)
    s = int(faces.shape[1])
    tensors: dict[str, np.ndarray] = {"faces": np.ascontiguousarray(faces, np.uint8), "landmarks": np.asarray(data.targets, np.float32),
               "faces_split": np.zeros(len(data), np.int8), "utk": np.zeros((0, s, s, 3), np.uint8),
               "utk_gender": np.zeros(0, np.int64), "utk_age": np.zeros(0, np.int64)}
    meta = {"size": str(s), "detector": "landmarks", "landmarks": "ground-truth", "files": json.dumps(list(data.ids))}
    atomic_write_bytes(path, save(tensors, metadata=meta))
    return Path(path)


def toy_faces(n: int, size: int = 32, seed: int = 0) -> ArraySet:
    """``n`` synthetic "faces" whose 68 landmarks are a jittered template drawn into the picture (tests, doctests):
    a model can learn them, and an untrained one cannot."""
    from fakevision.gan.mapping import LEFT_EYE, RIGHT_EYE

    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, POINTS, endpoint=False)
    template = np.stack([0.5 + 0.3 * np.cos(t), 0.5 + 0.3 * np.sin(t)], 1)
    template[RIGHT_EYE] = [0.35, 0.4]
    template[LEFT_EYE] = [0.65, 0.4]
    template[RIGHT_EYE] += rng.normal(0, 0.01, (6, 2))
    template[LEFT_EYE] += rng.normal(0, 0.01, (6, 2))
    imgs, pts = [], []
    for _ in range(n):
        shift = rng.uniform(-0.1, 0.1, 2)
        scale = rng.uniform(0.8, 1.1)
        p = ((template - 0.5) * scale + 0.5 + shift) * size
        img = np.full((size, size, 1), 40, np.uint8)
        for x, y in p:
            cv2.circle(img, (int(x), int(y)), 1, 220, -1)
        imgs.append(img)
        pts.append(p.astype(np.float32))
    return ArraySet(np.stack(imgs), np.stack(pts), [f"toy{i}" for i in range(n)], "toy", [SCHEMA],
                    ["toy"] * n, None)


def standard_split(data: ArraySet, test_group: str | None = "helen_test", n_val: int = 150, seed: int = 0
                   ) -> Any:
    """The landmark split: test = the faces of ``test_group`` (faces_68pt's helen_test: the 300-W "common" test
    convention) or, when the set has no such group, a seeded third of the faces; validation = ``n_val`` faces drawn
    with ``seed`` from the rest; train = the remaining faces (faces_68pt: helen_train + afw)."""
    from fakevision.io.labelled import Split

    rng = np.random.default_rng(seed)
    groups = np.array(data.groups or [""] * len(data))
    if test_group and (groups == test_group).any():
        test = np.flatnonzero(groups == test_group)
    else:
        test = np.sort(rng.permutation(len(data))[: len(data) // 3])
    rest = np.setdiff1d(np.arange(len(data)), test)
    if len(rest) < n_val + 1:
        raise InputError(f"{len(rest)} faces outside the test split: too few for {n_val} validation faces and a "
                         "training split", data.name or None)
    perm = rng.permutation(rest)
    return Split(np.sort(perm[n_val:]), np.sort(perm[:n_val]), test, seed)


# -- the task ---------------------------------------------------------------------------------------------------------

class LandmarkTask(DenseTask):
    """Landmark regression for the downstream protocol (module docstring). ``head`` "heatmap" or "regression";
    ``widths`` of ``LandmarkNet``'s stages (None: its default for the size), ``heatmap_stride`` 4 or 8; the schedule
    is ``FitConfig``'s (``steps``, ``batch_size``, ``lr``, ``validate_every``, ``augment``, ``aug_pool``,
    ``device``, ``threads``), by default 400 steps of 32 at lr 4e-3."""

    name = "landmarks"
    metrics = METRICS
    select = ("nme", "min")

    def __init__(self, head: str = "heatmap", widths: tuple[int, ...] | list[int] | None = None,
                 heatmap_stride: int = 4, **fit: Any) -> None:
        # the landmarks table's measured schedule (results/evaluate_landmarks): 400 steps at 4e-3 with stride-4
        # heatmaps match 800 steps at 2e-3 with stride 8 on all real faces and beat them with 50
        for k, v in (("steps", 400), ("lr", 4e-3), ("validate_every", 50), ("aug_pool", 4096)):
            fit.setdefault(k, v)
        if head not in ("heatmap", "regression"):
            raise ValueError(f"head must be 'heatmap' or 'regression', got {head!r}")
        if heatmap_stride not in (4, 8):
            raise ValueError(f"heatmap_stride must be 4 or 8, got {heatmap_stride!r}")
        self.head, self.heatmap_stride = head, int(heatmap_stride)
        self.widths = None if widths is None else tuple(int(w) for w in widths)
        self.cfg = FitConfig(**fit)

    # -- protocol side
    def align(self, fake: ArraySet, real: ArraySet) -> ArraySet:
        if fake.images.shape[1:] != real.images.shape[1:]:
            raise InputError(f"fake faces are {fake.images.shape[1:]}, real faces {real.images.shape[1:]}: load "
                             "both at the same size and channels", fake.name or None)
        return fake


    def describe(self) -> dict[str, Any]:
        c = self.cfg
        model = f"LandmarkNet({self.head}" + (f", stride {self.heatmap_stride}" if self.head == "heatmap" else "")
        model += f", widths {list(self.widths)})" if self.widths else ")"
        return {"model": model, "steps": c.steps, "batch_size": c.batch_size, "lr": c.lr,
                "weight_decay": c.weight_decay, "augment": c.augment, "aug_pool": c.aug_pool if c.augment else None,
                "schedule": f"AdamW + cosine to 0 over {c.steps} steps; weights of the best real-validation NME "
                            f"(every {c.validate_every} steps)", "device": c.device}

    # -- trainer side (fit.DenseSpec)
    def build_model(self, in_channels: int, height: int, width: int) -> nn.Module:
        from fakevision.train.models import LandmarkNet

        return LandmarkNet(in_channels, height, self.head, widths=self.widths, heatmap_stride=self.heatmap_stride)

    def target_tensor(self, targets: np.ndarray, height: int, width: int) -> torch.Tensor:
        return torch.from_numpy(np.asarray(targets, np.float32) / np.array([width, height], np.float32))

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(out, target)

    def decode(self, out: torch.Tensor, height: int, width: int) -> np.ndarray:
        return out.float().cpu().numpy() * np.array([width, height], np.float32)

    def score(self, pred: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        return landmark_metrics(pred, targets)

    def to_sample(self, image: np.ndarray, target: np.ndarray) -> Sample:
        lo, hi = target.min(0), target.max(0)
        return Sample(image, Annotations(categories=["face"], boxes=np.array([[*lo, *hi]], np.float64),
                                         keypoints=target[None], keypoint_schema=get_schema(SCHEMA)))

    def from_sample(self, sample: Sample, height: int, width: int, fallback: tuple[np.ndarray, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray]:
        a = sample.annotations
        if a.keypoints is None or len(a.keypoints) != 1:  # the face left the frame: keep the original
            return fallback
        img, pts = sample.image, a.keypoints[0]
        if img.shape[:2] != (height, width):
            sx, sy = width / img.shape[1], height / img.shape[0]
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
            pts = pts * [sx, sy]
        img = img if img.ndim == 3 else img[:, :, None]
        return img.astype(np.uint8), np.asarray(pts, np.float32)

    def draw(self, image: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """The image (RGB) with predicted points drawn, for sample grids."""
        img = np.ascontiguousarray(_channels(image, grey=False))
        for x, y in pred:
            cv2.circle(img, (int(x), int(y)), 1, (0, 255, 0), -1)
        return img
