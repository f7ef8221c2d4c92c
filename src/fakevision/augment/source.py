"""The ``augment`` source (augmented copies of a data set read by any reader, for recipes and the CLI) and the
``dataset`` source (the same data set's samples passed through unchanged — the identity augmentation).

Recipe section::

    sources:
      - type: augment
        count: 900                       # must equal per_class x classes in per-class modes (augment_count)
        input: {format: mask_pairs, path: data/iris, image_dir: images, mask_dir: masks}
        preset: iris-phone               # or ops: [{op: Rotate, angle: [-10, 10]}, ...]
        per_class: 300                   # or balance: true; neither = round-robin over the input

Sample ``index`` -> a deterministic parent (class-aware in per-class modes, see ``per_class.ClassPlan``) and the
per-sample generator from the engine; its provenance holds the drawn params and the parent's id, so it can be
made again from the parent alone.

Why a source for real data: a recipe can then mix real and fake samples in one output (e.g. a training set of
real + generated faces written to the same COCO file), with each real sample's provenance saying where it came
from (``read:<format>``, its relative path). Recipe section::

    sources:
      - type: dataset
        count: 380
        input: {format: csv, path: data/orl/labels.csv, label_column: subject_id}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np  # noqa: F401 - the docstring examples below use it
from pydantic import Field, field_validator, model_validator

from fakevision.augment.base import Transform
from fakevision.augment.config import build_pipeline
from fakevision.augment.per_class import ClassPlan
from fakevision.augment.presets import PRESETS, get_preset
from fakevision.core.errors import RecipeError
from fakevision.core.sample import Sample
from fakevision.core.source import Made, RandomStreams, SourceConfig, SourceType
from fakevision.io.readers.factory import ReaderSpec


class AugmentConfig(SourceConfig):
    """``type: augment``. Exactly one of ``preset`` / ``ops``; at most one of ``per_class`` / ``balance``.

    ``include_originals`` (default: True in per-class/balance modes, False otherwise) puts the real samples into
    the output unchanged before the augmented ones.
    """

    type: Literal["augment"] = "augment"
    input: ReaderSpec
    preset: str | None = None
    ops: list[dict[str, Any]] | None = None
    per_class: int | None = Field(None, ge=1)
    balance: bool = False
    include_originals: bool | None = None

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str | None) -> str | None:
        if v is not None and v not in PRESETS:
            raise ValueError(f"unknown preset {v!r}; known: {sorted(PRESETS)}")
        return v

    @field_validator("ops")
    @classmethod
    def _valid_ops(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if v is not None:
            build_pipeline(v)  # raises ValueError naming the op's key path
        return v

    @model_validator(mode="after")
    def _one_of_each(self) -> AugmentConfig:
        if (self.preset is None) == (self.ops is None):
            raise ValueError("give exactly one of preset or ops")
        if self.per_class is not None and self.balance:
            raise ValueError("give per_class or balance, not both")
        return self

    def transform(self) -> Transform:
        return get_preset(self.preset) if self.preset is not None else build_pipeline(self.ops or [])


def input_labels(samples: Sequence[Sample]) -> list[str | None]:
    """Class labels of every input without decoding images when the reader knows them (``reader.labels``)."""
    labels = getattr(samples, "labels", None)
    if labels is not None and not callable(labels):
        return list(labels)
    return [s.annotations.label for s in samples]


def _ids(samples: Sequence[Sample]) -> list[str] | None:
    ids = getattr(samples, "ids", None)
    return list(ids) if ids is not None and not callable(ids) else None


def augment_count(
    input: ReaderSpec | dict[str, Any] | Sequence[Sample],
    *,
    per_class: int | None = None,
    balance: bool = False,
    include_originals: bool | None = None,
    copies: int = 1,
    base_dir: str | Path | None = None,
) -> int:
    """The ``count`` an augment source must have: per_class x number of classes, or largest class x classes
    (balance), or in plain mode ``copies`` x inputs (+ the inputs themselves with ``include_originals``).
    For the CLI: ``fakevision augment INPUT --per-class N`` -> ``count=augment_count(spec, per_class=N)``.

    >>> from fakevision.core import Annotations
    >>> data = [Sample(np.zeros((2, 2, 3), np.uint8), Annotations(label=c)) for c in "aab"]
    >>> augment_count(data, per_class=5), augment_count(data, balance=True), augment_count(data, copies=3)
    (10, 4, 9)
    """
    if isinstance(input, dict):
        input = ReaderSpec(**input)
    samples = input.open(base_dir) if isinstance(input, ReaderSpec) else input
    if per_class is None and not balance:
        n = len(samples)
        return n * copies + (n if include_originals else 0)
    return ClassPlan.build(input_labels(samples), per_class, balance, include_originals, ids=_ids(samples)).count


class AugmentSource:
    """Makes sample ``index``: its parent from ``plan``, augmented with ``transform`` and the engine's ``rng``.

    >>> from fakevision.augment import HorizontalFlip
    >>> from fakevision.core import Annotations, Provenance
    >>> data = [Sample(np.arange(6, dtype=np.uint8).reshape(1, 2, 3), Annotations(label="a"),
    ...                Provenance("read:test", "a/0.png"))]
    >>> from fakevision.core.source import make_sample
    >>> src = AugmentSource("aug", data, HorizontalFlip(p=1.0), ClassPlan.build(["a"], count=2))
    >>> s = make_sample(src, 1)
    >>> s.id, s.provenance.parents, s.image[0, 0].tolist()
    ('aug-000001', ['a/0.png'], [3, 4, 5])
    """

    def __init__(self, name: str, samples: Sequence[Sample], transform: Transform, plan: ClassPlan) -> None:
        self.name = name
        self.samples = samples
        self.transform = transform
        self.plan = plan
        self.count = plan.count

    def make(self, index: int, streams: RandomStreams) -> Made:
        slot = self.plan.slot(index)
        parent = self.samples[slot.parent]
        if slot.original:
            out, drawn = parent, {"applied": False}
        else:
            drawn = self.transform.sample_params(streams.rng, parent)
            out = self.transform.apply(parent, drawn)
        named = drawn if slot.original else self.transform.named_params(drawn)
        return Made.of(out, {"parent_index": slot.parent, "original": slot.original, "augment": named}, [parent.id])


def build_augment_source(config: AugmentConfig) -> AugmentSource:
    """Builder registered for ``type: augment`` (the input's path already resolved)."""
    reader = config.input.open()
    plan = ClassPlan.build(input_labels(reader) if (config.per_class or config.balance) else [None] * len(reader),
                           config.per_class, config.balance, config.include_originals,
                           count=config.count, ids=_ids(reader))
    if plan.count != config.count:
        mode = f"per_class {config.per_class}" if config.per_class else "balance"
        raise RecipeError(
            f"source {config.source_name!r}: count must be {plan.count} ({mode} x {len(plan.classes)} classes "
            f"of {config.input.path}), got {config.count}"
        )
    return AugmentSource(config.source_name, reader, config.transform(), plan)


AUGMENT = SourceType(AugmentConfig, build_augment_source,
                     "augmented copies of a data set (preset or ops; per-class and balance modes)")


class DatasetSourceConfig(SourceConfig):
    """``type: dataset``; ``input`` says what to read; ``count`` must not exceed the data set's size."""

    type: Literal["dataset"] = "dataset"
    input: ReaderSpec


class DatasetSource:
    """Item ``index`` of a reader, unchanged, with the provenance its reader gave it (reading draws nothing).

    >>> import tempfile
    >>> from fakevision.core.source import make_sample
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp()); (root / "cat").mkdir()
    >>> _ = (root / "cat" / "1.png").write_bytes(encode_image(np.zeros((4, 5, 3), np.uint8)))
    >>> src = build_dataset_source(DatasetSourceConfig(count=1, input={"format": "folder", "path": root}))
    >>> make_sample(src, 0).provenance.sample_id
    'cat/1.png'
    """

    def __init__(self, name: str, reader: Sequence[Sample], count: int) -> None:
        self.name = name
        self.reader = reader
        self.count = count

    def make(self, index: int, streams: RandomStreams) -> Made:
        if not 0 <= index < self.count:
            raise IndexError(f"source {self.name!r}: index {index} outside 0..{self.count - 1}")
        s = self.reader[index]
        return Made(s.image, s.annotations, provenance=s.provenance)


def build_dataset_source(config: DatasetSourceConfig) -> DatasetSource:
    """Builder registered for ``type: dataset`` (the input's path already resolved)."""
    reader = config.input.open()
    if config.count < 0 or config.count > len(reader):
        raise RecipeError(
            f"source {config.source_name!r}: count {config.count} must be between 0 and the {len(reader)} samples "
            f"of {config.input.path}"
        )
    return DatasetSource(config.source_name, reader, config.count)


DATASET = SourceType(DatasetSourceConfig, build_dataset_source, "real samples read from a data set, unchanged")
