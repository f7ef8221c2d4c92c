"""The ``"smart"`` source: images from a trained Smart Augmentation network A, each with its parents.

Sample ``index`` draws (from the engine's per-sample generator only) a class, then ``k`` distinct real images of
that class as parents, runs A on them, and records the class as the label and the parents' ids in provenance, so
every output can be traced to the real images it was blended from (and checked for memorisation).

Recipe section::

    - type: smart
      count: 500
      checkpoint: out/smart/a.pt          # written by fakevision.smart.api.train_smart
      labels_csv: ../shared/data/orl_att_faces/labels.csv
      label_column: subject_id

>>> SmartSourceConfig(type="smart", count=3, checkpoint="a.pt", labels_csv="l.csv", label_column="c").source_name
'smart'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fakevision.core.errors import InputError
from fakevision.core.sample import Annotations
from fakevision.core.source import (
    Made,
    RandomStreams,
    RecipePath,
    SourceConfig,
    SourceType,
)
from fakevision.io.labelled import LabelledImages, load_labelled_csv
from fakevision.smart.augmenter import SmartAugmenter


class SmartSourceConfig(SourceConfig):
    """``type: smart``: ``checkpoint`` (network A) and ``labels_csv`` (the real images it blends) are paths relative
    to the recipe."""

    checkpoint: RecipePath
    labels_csv: RecipePath
    label_column: str
    path_column: str = "path"


class SmartSource:
    """Makes sample ``index`` from A and ``k`` same-class parents drawn with the given generator."""

    def __init__(self, name: str, augmenter: SmartAugmenter, real: LabelledImages) -> None:
        self.name, self.aug, self.real = name, augmenter, real
        self.pools = [np.flatnonzero(real.labels == c) for c in range(len(real.classes))]
        if any(len(p) == 0 for p in self.pools):
            empty = [real.classes[c] for c, p in enumerate(self.pools) if len(p) == 0]
            raise InputError(f"no real images of class {empty[0]!r} to use as parents", real.name or None)

    def make(self, index: int, streams: RandomStreams) -> Made:
        rng = streams.rng
        c = int(rng.integers(len(self.pools)))
        pool = self.pools[c]
        k = self.aug.k
        parents = rng.choice(pool, size=k, replace=len(pool) < k)
        x = torch.from_numpy(self.real.images[parents]).permute(0, 3, 1, 2).float() / 255.0
        out = self.aug.generate(x[None], c)[0]
        img = np.clip(np.rint(out.permute(1, 2, 0).numpy() * 255.0), 0, 255).astype(np.uint8)
        return Made(img, Annotations(label=self.real.classes[c]), {"class": self.real.classes[c], "k": k},
                    [self.real.ids[int(p)] for p in parents])


def build_smart_source(cfg: SmartSourceConfig) -> SmartSource:
    """Builder registered for ``type: smart`` (paths already resolved)."""
    ckpt, csv_path = Path(cfg.checkpoint), Path(cfg.labels_csv)
    aug, meta = SmartAugmenter.load(ckpt)
    real = load_labelled_csv(csv_path, cfg.label_column, size=meta["size"], grey=meta["channels"] == 1,
                             path_column=cfg.path_column)
    if real.classes != meta["classes"]:
        raise InputError(f"classes in {csv_path.name} differ from those A was trained on", ckpt)
    return SmartSource(cfg.source_name, aug, real)


SMART = SourceType(SmartSourceConfig, build_smart_source,
                   "Smart Augmentation: a trained network A blends k same-class real images into a new one")
