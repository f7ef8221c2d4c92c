"""Semantic segmentation as a protocol task: images with label maps in, IoU and Dice per class out.

**Data** (``load_segmentation``): any readable set with masks -- image/mask pairs (a folder with ``images/`` and
``masks/``, or a tar archive such as the MMU iris ``.tar.xz``), a COCO file with instance masks, a labelme folder,
or a fakevision output folder (rendered eyes, augmented sets). A sample's target is its label map with named classes
when it has one, else its instance masks painted by category name. Images are resized (area) and label maps
(nearest) to ``size`` = (width, height), grey by default. Classes are *names*: a fake set is aligned to the real
set's classes by name (a rendered eye's ``iris`` and ``pupil`` become the real set's ``iris`` and ``pupil``; classes
the real set does not have, such as ``skin``, become background). ``category`` names the foreground of a mask-pair
set, whose masks carry no class name (MMU: ``iris``).

**Split by subject** (``group_split``): images of one subject never sit on both sides. A subject is the first folder
below ``images/`` when there is one (MMU: ``Dataset/images/<subject>/<left|right>/<n>.bmp``), else the top folder of
the id, else the image itself (``subject_of``).

**Metrics** (``segmentation_metrics``), per image then averaged over the test set, for every class c but the
background: ``iou_<c>`` = |P ∩ G| / |P ∪ G| and ``dice_<c>`` = 2 |P ∩ G| / (|P| + |G|), 1 when both are empty. The
first class's IoU is primary. Computed at the task's resolution.

**Model and training** (``SegmentationTask``): ``models.UNet``, cross-entropy + soft Dice loss, AdamW + cosine,
the step with the best validation IoU of the first class kept.

>>> g = np.zeros((1, 4, 4), np.uint8); g[0, :2] = 1
>>> p = np.zeros((1, 4, 4), np.uint8); p[0, :1] = 1
>>> {k: round(v, 3) for k, v in segmentation_metrics(p, g, ["background", "iris"]).items()}
{'iou_iris': 0.5, 'dice_iris': 0.667}
>>> subject_of("Dataset/images/12/left/3.bmp"), subject_of("a/b.png"), subject_of("c.png")
('12', 'a', 'c')
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakevision.core.errors import InputError
from fakevision.core.sample import Annotations, Sample
from fakevision.evaluate.fit import DenseTask, FitConfig
from fakevision.evaluate.landmarks import _channels, open_samples
from fakevision.evaluate.task import ArraySet, Metric

BACKGROUND = "background"


def subject_of(sample_id: str) -> str:
    """The subject an image belongs to, from its id (module docstring)."""
    parts = PurePosixPath(sample_id).parts
    if "images" in parts[:-1]:
        rest = parts[parts.index("images") + 1 :]
        return rest[0] if len(rest) > 1 else PurePosixPath(rest[-1]).stem
    return parts[0] if len(parts) > 1 else PurePosixPath(parts[-1]).stem


def segmentation_metrics(pred: np.ndarray, gt: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Per-image IoU and Dice of every non-background class, averaged over images (module docstring)."""
    out: dict[str, float] = {}
    n = len(gt)
    for c in range(1, len(classes)):
        p = (np.asarray(pred) == c).reshape(n, -1)
        g = (np.asarray(gt) == c).reshape(n, -1)
        inter = (p & g).sum(1).astype(np.float64)
        union = (p | g).sum(1).astype(np.float64)
        size = p.sum(1) + g.sum(1).astype(np.float64)
        iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        dice = np.where(size > 0, 2 * inter / np.maximum(size, 1), 1.0)
        out[f"iou_{classes[c]}"] = float(iou.mean()) if n else float("nan")
        out[f"dice_{classes[c]}"] = float(dice.mean()) if n else float("nan")
    return out


def _target(a: Annotations, hw: tuple[int, int]) -> tuple[np.ndarray, dict[int, str]]:
    """(label map, id -> class name) of one sample: its named label map, else its masks painted by category."""
    if a.label_map is not None and a.label_names:
        return np.asarray(a.label_map, np.int32), {int(k): str(v) for k, v in a.label_names.items()}
    lm = np.zeros(hw, np.int32)
    names: dict[int, str] = {0: BACKGROUND}
    ids: dict[str, int] = {}
    if a.masks is not None:
        for cat, m in zip(a.categories, a.masks):
            k = ids.setdefault(cat, len(ids) + 1)
            names[k] = cat
            lm[m] = k
    return lm, names


def load_segmentation(path: str | Path, size: tuple[int, int] = (128, 96), grey: bool = True,
                      classes: list[str] | None = None, category: str | None = None, limit: int | None = None,
                      name: str | None = None) -> ArraySet:
    """Every sample of the set at ``path`` with its label map, resized to ``size`` = (width, height) (module
    docstring). ``classes`` fixes the class list (index 0 = background; other names map to background); by default
    it is every class the set has, in order of first appearance. ``groups`` are subjects (``subject_of``),
    ``parents`` come from provenance for fakevision outputs."""
    p = Path(path)
    w, h = int(size[0]), int(size[1])
    n, load, parents_of = _open(p, category)
    imgs, maps, ids, parents, found = [], [], [], [], [BACKGROUND]
    has_parents = True
    for i in range(n if limit is None else min(n, limit)):
        s = load(i)
        lm, names = _target(s.annotations, s.image.shape[:2])
        for nm in names.values():
            if nm not in found:
                found.append(nm)
        par = parents_of(s)
        has_parents &= par is not None
        img = cv2.resize(np.ascontiguousarray(_channels(s.image, grey)), (w, h), interpolation=cv2.INTER_AREA)
        lm_small = cv2.resize(lm, (w, h), interpolation=cv2.INTER_NEAREST)
        imgs.append(img if img.ndim == 3 else img[:, :, None])
        maps.append((lm_small, names))
        ids.append(s.id)
        parents.append(par or [])
    if not imgs:
        raise InputError("no images found", p)
    cls = list(classes) if classes is not None else found
    if cls[0] != BACKGROUND:
        cls = [BACKGROUND, *[c for c in cls if c != BACKGROUND]]
    lookup = {c: k for k, c in enumerate(cls)}
    targets = np.zeros((len(maps), h, w), np.uint8)
    for j, (lm, names) in enumerate(maps):
        table = np.zeros(max(names) + 1 if names else 1, np.uint8)
        for k, nm in names.items():
            table[k] = lookup.get(nm, 0)
        targets[j] = table[np.clip(lm, 0, len(table) - 1)]
    if len(cls) < 2:
        raise InputError("no labelled class (only background) in any mask", p)
    return ArraySet(np.stack(imgs), targets, ids, name or (p.stem if p.is_file() else p.name), cls,
                    [subject_of(i) for i in ids], parents if has_parents else None)


def _open(p: Path, category: str | None) -> tuple[int, Any, Any]:
    from fakevision.evaluate.landmarks import is_output_folder
    from fakevision.io.readers import detect_format, open_reader

    if not is_output_folder(p) and detect_format(p) == "mask_pairs":
        r = open_reader("mask_pairs", p, **({"category": category} if category else {}))
        return len(r), r.__getitem__, lambda s: None
    return open_samples(p, "masks")


def group_split(groups: list[str], n_test: int | float = 1 / 3, n_val: int | float = 1 / 9, seed: int = 0) -> Any:
    """Split by group (subject): ``n_test`` and ``n_val`` groups (counts, or fractions of the groups) drawn with
    ``seed`` for test and validation, the rest for training; every image follows its group.

    >>> s = group_split([str(i // 10) for i in range(90)], 3, 1, seed=0)
    >>> len(s.test), len(s.val), len(s.train)
    (30, 10, 50)
    """
    from fakevision.io.labelled import Split

    names = sorted(set(groups))
    k = len(names)
    nt = int(round(n_test * k)) if isinstance(n_test, float) else int(n_test)
    nv = int(round(n_val * k)) if isinstance(n_val, float) else int(n_val)
    if k < nt + nv + 1 or nt < 1 or nv < 1:
        raise InputError(f"{k} subjects: too few for {nt} test + {nv} validation subjects and a training split")
    order = [names[i] for i in np.random.default_rng(seed).permutation(k)]
    test_g, val_g = set(order[:nt]), set(order[nt : nt + nv])
    g = np.array(groups)
    test = np.flatnonzero(np.isin(g, list(test_g)))
    val = np.flatnonzero(np.isin(g, list(val_g)))
    train = np.flatnonzero(~np.isin(g, list(test_g | val_g)))
    return Split(train, val, test, seed)


class SegmentationTask(DenseTask):
    """Semantic segmentation for the downstream protocol (module docstring). ``widths`` of the U-Net; the schedule
    is ``FitConfig``'s. ``classes`` is set from the real set by ``align`` (or given)."""

    name = "segmentation"

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64), classes: list[str] | None = None,
                 dice_weight: float = 1.0, **fit: Any) -> None:
        fit.setdefault("batch_size", 16)
        self.widths = tuple(widths)
        self.classes = list(classes) if classes else []
        self.dice_weight = float(dice_weight)
        self.cfg = FitConfig(**fit)

    @property
    def metrics(self) -> tuple[Metric, ...]:
        fg = self.classes[1:] or ["foreground"]
        return (*[Metric(f"iou_{c}", f"IoU {c}", True, percent=True) for c in fg],
                *[Metric(f"dice_{c}", f"Dice {c}", True, percent=True) for c in fg])

    @property
    def select(self) -> tuple[str, str]:
        return (self.metrics[0].name, "max")

    # -- protocol side
    def align(self, fake: ArraySet, real: ArraySet) -> ArraySet:
        self.classes = list(real.classes)
        if fake.images.shape[1:] != real.images.shape[1:]:
            raise InputError(f"fake images are {fake.images.shape[1:]}, real images {real.images.shape[1:]}: load "
                             "both at the same size and channels", fake.name or None)
        if fake.classes == real.classes:
            return fake
        lookup = {c: k for k, c in enumerate(real.classes)}
        if not set(fake.classes[1:]) & set(real.classes[1:]):
            raise InputError(f"fake set has none of the real classes {real.classes[1:]} (it has "
                             f"{fake.classes[1:]})", fake.name or None)
        table = np.array([lookup.get(c, 0) for c in fake.classes], np.uint8)
        return ArraySet(fake.images, table[fake.targets], fake.ids, fake.name, list(real.classes), fake.groups,
                        fake.parents)

    def fit(self, real_train: ArraySet, fake_train: ArraySet, val: ArraySet, test: ArraySet, seed: int
            ) -> dict[str, Any]:
        if not self.classes:
            self.classes = list(real_train.classes)
        return super().fit(real_train, fake_train, val, test, seed)

    def describe(self) -> dict[str, Any]:
        c = self.cfg
        return {"model": f"UNet{self.widths}", "classes": self.classes, "steps": c.steps, "batch_size": c.batch_size,
                "lr": c.lr, "weight_decay": c.weight_decay, "loss": f"cross-entropy + {self.dice_weight:g} x soft Dice",
                "augment": c.augment, "aug_pool": c.aug_pool if c.augment else None,
                "schedule": f"AdamW + cosine to 0 over {c.steps} steps; weights of the best real-validation "
                            f"{self.select[0]} (every {c.validate_every} steps)", "device": c.device}

    # -- trainer side (fit.DenseSpec)
    def build_model(self, in_channels: int, height: int, width: int) -> nn.Module:
        from fakevision.train.models import UNet

        step = 2 ** len(self.widths)
        if height % step or width % step:
            raise InputError(f"image size {width}x{height} must be divisible by {step} for the U-Net")
        return UNet(in_channels, max(2, len(self.classes)), self.widths)

    def target_tensor(self, targets: np.ndarray, height: int, width: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(targets)).long()

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(out, target)
        if self.dice_weight == 0:
            return ce
        prob = out.float().softmax(1)[:, 1:]
        onehot = F.one_hot(target, out.shape[1]).permute(0, 3, 1, 2)[:, 1:].float()
        inter = (prob * onehot).sum((0, 2, 3))
        dice = (2 * inter + 1) / (prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1)
        return ce + self.dice_weight * (1 - dice.mean())

    def decode(self, out: torch.Tensor, height: int, width: int) -> np.ndarray:
        return out.argmax(1).to(torch.uint8).cpu().numpy()

    def score(self, pred: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        return segmentation_metrics(pred, targets, self.classes)

    def to_sample(self, image: np.ndarray, target: np.ndarray) -> Sample:
        ks = [k for k in range(1, len(self.classes)) if (target == k).any()]
        masks = np.stack([target == k for k in ks]) if ks else np.zeros((0, *target.shape), bool)
        boxes = []
        for m in masks:
            ys, xs = np.nonzero(m)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        return Sample(image, Annotations(categories=[self.classes[k] for k in ks], boxes=np.array(boxes, float)
                                         .reshape(-1, 4), masks=masks, label_map=target.astype(np.int32),
                                         label_names=dict(enumerate(self.classes))))

    def from_sample(self, sample: Sample, height: int, width: int, fallback: tuple[np.ndarray, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray]:
        img, lm = sample.image, sample.annotations.label_map
        if lm is None:
            return fallback
        if img.shape[:2] != (height, width):
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
            lm = cv2.resize(np.asarray(lm, np.int32), (width, height), interpolation=cv2.INTER_NEAREST)
        img = img if img.ndim == 3 else img[:, :, None]
        return img.astype(np.uint8), np.asarray(lm, np.uint8)

    def draw(self, image: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """The image (RGB) with the predicted classes tinted, for sample grids."""
        img = _channels(image, grey=False).astype(np.float32)
        colours = np.array([[0, 0, 0], [0, 255, 0], [255, 0, 255], [255, 255, 0], [0, 255, 255]], np.float32)
        tint = colours[np.clip(pred, 0, len(colours) - 1)]
        mix = np.where(pred[..., None] > 0, 0.6 * img + 0.4 * tint, img)
        return mix.astype(np.uint8)
