"""What the downstream protocol needs from a task: data loading + model + loss + metric, behind one interface.

The protocol (``fakevision.evaluate.protocol``) is the same for every task: a fixed real split, training runs over
seeds and fake:real ratios, the real-validation split picks the weights, the real test split is touched once, mean
± std and differences with 95% CIs. What differs is what a sample's target is and how a model learns it, so a task
is an object with:

* ``metrics`` -- what is reported (the first one is primary: the protocol's Δ, the plots and the table use it);
* ``align(fake, real)`` -- make a fake set comparable to the real one (class names, image size), or say why not;
* ``draw_fake(fake, n, rng)`` / ``subsample(train, n, rng)`` -- which fake images a run adds, which real training
  images it keeps (``--real-n``: the few-labels regime);
* ``fit(real_train, fake_train, val, test, seed)`` -- one training run from scratch; returns the test metrics of the
  weights that were best on the validation split.

Tasks: ``classification`` (``fakevision.evaluate.classification``), ``landmarks`` (``.landmarks``),
``segmentation`` (``.segmentation``); ``get_task(name, **options)`` builds one.

Data are ``ArraySet``\\ s (or, for classification, ``LabelledImages``): images decoded once into an N x H x W x C
uint8 array with per-image targets, so every run of a table reads memory, never files.

>>> s = ArraySet(np.zeros((4, 8, 8, 1), np.uint8), np.arange(4), [f"i{k}" for k in range(4)], "toy")
>>> t = s.subset([3, 1]); t.ids, t.targets.tolist(), len(t)
(['i3', 'i1'], [3, 1], 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fakevision.core.errors import InputError


@dataclass(frozen=True)
class Metric:
    """A reported number: ``name`` (JSON key), ``label`` (table header), direction, and how to print it
    (``percent``: a fraction shown x 100 with differences in points; else shown with ``digits`` decimals)."""

    name: str
    label: str
    higher_is_better: bool
    percent: bool = False
    digits: int = 4

    def fmt(self, value: float) -> str:
        """``0.0712`` -> ``"0.0712"``; a percent metric ``0.957`` -> ``"95.7"``."""
        return f"{100 * value:.1f}" if self.percent else f"{value:.{self.digits}f}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "higher_is_better": self.higher_is_better,
                "percent": self.percent, "digits": self.digits}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Metric:
        return cls(d["name"], d["label"], bool(d["higher_is_better"]), bool(d.get("percent", False)),
                   int(d.get("digits", 4)))


@dataclass
class ArraySet:
    """N images (``images`` N x H x W x C uint8) with per-image ``targets`` (N x ...: landmarks N x K x 2 float32 in
    pixels of the H x W image, or label maps N x H x W uint8), ``ids`` (where each came from), ``classes`` (target
    class names, index 0 = background for label maps), ``groups`` (N names: images of one group -- a subject -- stay
    on one side of a split) and ``parents`` (provenance parents of fake samples: the leakage guard reads them)."""

    images: np.ndarray
    targets: np.ndarray
    ids: list[str]
    name: str = ""
    classes: list[str] = field(default_factory=list)
    groups: list[str] | None = None
    parents: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: Sequence[int] | np.ndarray) -> ArraySet:
        idx = np.asarray(idx, dtype=np.int64)
        pick = [int(i) for i in idx]
        return ArraySet(self.images[idx], self.targets[idx], [self.ids[i] for i in pick], self.name,
                        list(self.classes), None if self.groups is None else [self.groups[i] for i in pick],
                        None if self.parents is None else [self.parents[i] for i in pick])

    @staticmethod
    def concat(sets: Sequence[ArraySet]) -> ArraySet:
        """One set from several with the same image size and target kind (names and classes of the first)."""
        sets = [s for s in sets if len(s)] or list(sets[:1])
        groups = None if any(s.groups is None for s in sets) else [g for s in sets for g in s.groups or []]
        parents = None if any(s.parents is None for s in sets) else [p for s in sets for p in s.parents or []]
        return ArraySet(np.concatenate([s.images for s in sets]), np.concatenate([s.targets for s in sets]),
                        [i for s in sets for i in s.ids], sets[0].name, list(sets[0].classes), groups, parents)


class Task(Protocol):
    """One task of the downstream protocol (see the module docstring)."""

    @property
    def name(self) -> str: ...  # (read-only: a class attribute or a property)

    @property
    def metrics(self) -> tuple[Metric, ...]: ...  # the first is the one tables and selection use

    def align(self, fake: Any, real: Any) -> Any: ...

    def draw_fake(self, fake: Any, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def subsample(self, train: Any, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def fit(self, real_train: Any, fake_train: Any, val: Any, test: Any, seed: int) -> dict[str, Any]: ...

    def describe(self) -> dict[str, Any]: ...


def draw_without_replacement(size: int, n: int, rng: np.random.Generator, what: str = "fake",
                             path: str | None = None) -> np.ndarray:
    """``n`` distinct indices out of ``size`` (sorted), or an ``InputError`` saying the set is too small.

    >>> draw_without_replacement(10, 3, np.random.default_rng(0)).tolist()
    [2, 4, 6]
    """
    if n <= 0:
        return np.zeros(0, np.int64)
    if n > size:
        raise InputError(f"the run needs {n} {what} images but the {what} set has {size}", path)
    return np.sort(rng.permutation(size)[:n]).astype(np.int64)


TASK_NAMES = ("classification", "landmarks", "segmentation")


def get_task(name: str, **options: Any) -> Task:
    """The task ``name`` with its training options (model, steps, ...; see each task's class).

    >>> get_task("landmarks", steps=10).metrics[0].name
    'nme'
    """
    if name == "classification":
        from fakevision.evaluate.classification import ClassificationTask

        return ClassificationTask(**options)
    if name == "landmarks":
        from fakevision.evaluate.landmarks import LandmarkTask

        return LandmarkTask(**options)
    if name == "segmentation":
        from fakevision.evaluate.segmentation import SegmentationTask

        return SegmentationTask(**options)
    raise ValueError(f"unknown task {name!r}; known: {', '.join(TASK_NAMES)}")
