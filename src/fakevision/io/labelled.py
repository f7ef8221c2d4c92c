"""Labelled image sets for the downstream protocol, and fixed seeded splits.

Why arrays, not Samples: the protocol trains a small CNN many times (seeds x ratios x conditions); decoding and
resizing once into an N x S x S x C uint8 array keeps every run cheap and identical. Reading goes through the
project's ``csv`` reader (a ``path`` column relative to the csv, one label column), so a missing or corrupt file
raises ``InputError`` naming it.

>>> import tempfile, pathlib, cv2
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(4):
...     _ = cv2.imwrite(str(d / f"{i}.png"), np.full((8, 8, 3), 60 * i, np.uint8))
>>> _ = (d / "labels.csv").write_text("path,cls\\n" + "".join(f"{i}.png,{'ab'[i % 2]}\\n" for i in range(4)))
>>> ds = load_labelled_csv(d / "labels.csv", "cls", size=4, grey=True)
>>> ds.images.shape, ds.classes, ds.labels.tolist()
((4, 4, 4, 1), ['a', 'b'], [0, 1, 0, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fakevision.core.errors import InputError


@dataclass
class LabelledImages:
    """``images`` N x S x S x C uint8, ``labels`` N int64 indices into ``classes``, ``ids`` the file paths."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    ids: list[str]
    name: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> LabelledImages:
        idx = np.asarray(idx, dtype=np.int64)
        return LabelledImages(self.images[idx], self.labels[idx], self.classes, [self.ids[i] for i in idx], self.name)


def load_parents(path: str | Path) -> list[list[str]] | None:
    """Provenance parents of every sample of a fakevision output folder (None for a CSV): the downstream protocol
    uses them to keep fake samples made from validation/test images out of training."""
    p = Path(path)
    if not p.is_dir():
        return None
    from fakevision.io.dataset import FakevisionDataset

    ds = FakevisionDataset(p)
    return [list(ds.to_sample(i).provenance.parents) for i in range(len(ds))]


def _samples(path: Path, label_column: str, path_column: str, grey: bool):  # noqa: ANN202 - iterator of Samples
    if path.is_dir():  # a fakevision output folder (make / augment / smart): labels come from the samples
        from fakevision.io.dataset import FakevisionDataset

        ds = FakevisionDataset(path)
        for i in range(len(ds)):
            s = ds.to_sample(i)
            if grey and s.image.shape[2] >= 3:
                s = s.replace(image=cv2.cvtColor(np.ascontiguousarray(s.image[:, :, :3]), cv2.COLOR_RGB2GRAY))
            elif not grey and s.image.shape[2] == 1:
                s = s.replace(image=np.repeat(s.image, 3, axis=2))
            yield s
        return
    from fakevision.io.readers import open_reader

    yield from open_reader("csv", path, label_column=label_column, path_column=path_column,
                           mode="L" if grey else "RGB")


def load_labelled_csv(
    csv_path: str | Path, label_column: str, size: int = 32, grey: bool = True, path_column: str = "path"
) -> LabelledImages:
    """Read every row of ``csv_path`` through ``fakevision.io.readers`` (format ``csv``) — or every sample of a
    fakevision output folder (labels from the samples) — with images resized (area) to ``size`` x ``size``, grey
    (1 channel) or RGB. Ids are the reader's (paths relative to the csv folder) or the samples' ids."""
    imgs, raw, ids = [], [], []
    for s in _samples(Path(csv_path), label_column, path_column, grey):
        if s.annotations.label is None or s.annotations.label == "":
            raise InputError(f"empty {label_column!r} value for {s.id}", csv_path)
        im = cv2.resize(np.ascontiguousarray(s.image), (size, size), interpolation=cv2.INTER_AREA)
        imgs.append(im[:, :, None] if im.ndim == 2 else im)
        raw.append(str(s.annotations.label))
        ids.append(s.id)
    if not raw:
        raise InputError("labels file has no rows", csv_path)
    classes = sorted(set(raw), key=lambda v: (int(v), v) if v.lstrip("-").isdigit() else (float("inf"), v))
    if len(classes) < 2:
        raise InputError(f"column {label_column!r} has a single class {classes}; need >= 2", csv_path)
    lookup = {c: i for i, c in enumerate(classes)}
    return LabelledImages(np.stack(imgs), np.array([lookup[v] for v in raw], np.int64), classes, ids,
                          Path(csv_path).parent.name)


def load_images(path: str | Path, size: int = 64, grey: bool = False) -> LabelledImages:
    """Every image of a ``labels.csv`` (its first non-path column read as the label, whatever it holds) or of a
    fakevision output folder, resized to ``size`` x ``size``: for FID/KID and memorisation, where labels do not
    matter (a rendered or generated set may have none). ``labels`` are all 0, ``classes`` ``["all"]``."""
    import csv as _csv

    p = Path(path)
    column = "path"
    if not p.is_dir():
        try:
            with open(p, newline="") as f:
                header = next(_csv.reader(f), [])
        except OSError as e:
            raise InputError(f"cannot read ({e.strerror})", p) from None
        others = [h for h in header if h != "path"]
        column = others[0] if others else "path"
    imgs, ids = [], []
    for s in _samples(p, column, "path", grey):
        im = cv2.resize(np.ascontiguousarray(s.image), (size, size), interpolation=cv2.INTER_AREA)
        imgs.append(im[:, :, None] if im.ndim == 2 else im)
        ids.append(s.id)
    if not imgs:
        raise InputError("no images", p)
    return LabelledImages(np.stack(imgs), np.zeros(len(imgs), np.int64), ["all"], ids, p.name if p.is_dir()
                          else p.parent.name)


@dataclass(frozen=True)
class Split:
    """Index arrays into a ``LabelledImages``; made once from ``seed`` and kept fixed across training seeds."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int


def stratified_split(labels: np.ndarray, n_train: int, n_val: int, seed: int = 0, n_test: int | None = None) -> Split:
    """Per class: ``n_train`` train, ``n_val`` validation, the rest (or ``n_test``) test, drawn with ``seed``.

    A class with fewer than ``n_train + n_val + 1`` images raises ``InputError`` (no empty test class).

    >>> s = stratified_split(np.repeat([0, 1], 10), 3, 2, seed=0)
    >>> len(s.train), len(s.val), len(s.test)
    (6, 4, 10)
    """
    rng = np.random.default_rng(seed)
    tr, va, te = [], [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        if len(idx) < n_train + n_val + 1:
            raise InputError(f"class {int(c)} has {len(idx)} images; the split needs {n_train + n_val + 1}")
        tr.append(idx[:n_train])
        va.append(idx[n_train : n_train + n_val])
        rest = idx[n_train + n_val :]
        te.append(rest if n_test is None else rest[:n_test])
    return Split(np.sort(np.concatenate(tr)), np.sort(np.concatenate(va)), np.sort(np.concatenate(te)), seed)


KNOWN_SETS = {
    # name: (relative csv path, label column, train/val per class, test per class or None = rest)
    "utkface_gender": ("utkface_random_200/labels.csv", "gender", 150, 100, None),
    "orl_identity": ("orl_att_faces/labels.csv", "subject_id", 4, 1, None),
}


def load_known_set(name: str, data_root: str | Path, size: int = 32, grey: bool = True) -> tuple[LabelledImages, Split]:
    """One of the shared real sets with its standard split for this project (split seed 0).

    utkface_gender: 150 train + 100 val per gender, test = the remaining 1500 (small training size on purpose:
    where augmentation matters). orl_identity: per subject 4 train, 1 val, 5 test (38 subjects).
    """
    if name not in KNOWN_SETS:
        raise ValueError(f"unknown set {name!r}; known: {sorted(KNOWN_SETS)}")
    rel, col, n_tr, n_va, n_te = KNOWN_SETS[name]
    ds = load_labelled_csv(Path(data_root) / rel, col, size=size, grey=grey)
    ds.name = name
    return ds, stratified_split(ds.labels, n_tr, n_va, seed=0, n_test=n_te)
