"""Image classification as a protocol task: ``LabelledImages`` in, test accuracy out (``train.train_classifier``).

The protocol's original task, unchanged in behaviour: the fake images a run adds are drawn class-balanced, a fake
set's class names are matched to the real ones by name, and the training set is the real training images followed by
the drawn fake ones, so a seed gives the same number it always gave.

>>> import numpy as np
>>> from fakevision.io.labelled import LabelledImages
>>> rng = np.random.default_rng(0)
>>> y = np.repeat([0, 1], 10); x = (rng.random((20, 8, 8, 1)) * 80 + 150 * y[:, None, None, None]).astype(np.uint8)
>>> real = LabelledImages(x, y, ["a", "b"], [str(i) for i in range(20)])
>>> r = ClassificationTask(epochs=2).fit(real, real.subset(np.arange(0)), real, real, seed=0)
>>> sorted(r["test"]), 0.0 <= r["test"]["test_acc"] <= 1.0
(['test_acc'], True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fakevision.core.errors import InputError
from fakevision.evaluate.task import Metric
from fakevision.io.labelled import LabelledImages

ACCURACY = Metric("test_acc", "test acc", higher_is_better=True, percent=True)


def align_classes(fake: LabelledImages, real: LabelledImages) -> LabelledImages:
    """Re-index ``fake``'s labels to ``real``'s class list by name; an unknown fake class is an ``InputError``."""
    lookup = {c: i for i, c in enumerate(real.classes)}
    unknown = sorted(set(fake.classes) - set(lookup))
    if unknown:
        raise InputError(f"fake set has classes not in the real set: {unknown[:5]}", fake.name or None)
    if fake.images.shape[1:] != real.images.shape[1:]:
        raise InputError(f"fake images are {fake.images.shape[1:]}, real images {real.images.shape[1:]}",
                         fake.name or None)
    labels = np.array([lookup[fake.classes[i]] for i in fake.labels], np.int64)
    return LabelledImages(fake.images, labels, real.classes, fake.ids, fake.name)


def draw_fake(fake: LabelledImages, n: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` fake images, as class-balanced as the fake set allows (without replacement when possible)."""
    if n <= 0:
        return np.zeros(0, np.int64)
    if n > len(fake):
        raise InputError(f"ratio needs {n} fake images but the fake set has {len(fake)}", fake.name or None)
    pools = [rng.permutation(np.flatnonzero(fake.labels == c)) for c in range(num_classes)]
    pools = [p for p in pools if len(p)]
    out: list[int] = []
    pos = [0] * len(pools)
    while len(out) < n:  # round robin over classes that still have images
        for i, p in enumerate(pools):
            if pos[i] < len(p) and len(out) < n:
                out.append(int(p[pos[i]]))
                pos[i] += 1
    return np.array(out, np.int64)


class ClassificationTask:
    """Train ``model`` (``fakevision.train.models``) for ``epochs`` with Adam + cosine, weights of the best
    validation epoch; metric: test accuracy."""

    name = "classification"
    metrics = (ACCURACY,)

    def __init__(self, model: str = "smallcnn", epochs: int = 30, batch_size: int = 32, lr: float = 2e-3,
                 device: str = "cpu") -> None:
        self.model, self.epochs, self.batch_size, self.lr, self.device = model, epochs, batch_size, lr, device

    def align(self, fake: LabelledImages, real: LabelledImages) -> LabelledImages:
        return align_classes(fake, real)

    def draw_fake(self, fake: LabelledImages, n: int, rng: np.random.Generator) -> np.ndarray:
        return draw_fake(fake, n, len(fake.classes), rng)

    def subsample(self, train: LabelledImages, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` real training images, class-balanced (round robin over classes in random order)."""
        if n > len(train):
            raise InputError(f"--real-n {n} but the real training split has {len(train)} images", train.name or None)
        return np.sort(draw_fake(train, n, len(train.classes), rng))

    def fit(self, real_train: LabelledImages, fake_train: LabelledImages, val: LabelledImages, test: LabelledImages,
            seed: int) -> dict[str, Any]:
        from fakevision.train.classifier import train_classifier

        x = np.concatenate([real_train.images, fake_train.images])
        y = np.concatenate([real_train.labels, fake_train.labels])
        r = train_classifier(self.model, (x, y), (val.images, val.labels), (test.images, test.labels),
                             len(real_train.classes), epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             seed=seed, device=self.device)
        return {"test": {"test_acc": r["test_acc"]}, "val": r["val_acc"], "best_epoch": r["best_epoch"],
                "wall_s": r["wall_s"]}

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size,
                "schedule": "Adam + cosine to 0; weights of the best real-validation epoch", "device": self.device}
