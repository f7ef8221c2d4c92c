"""The ``dataset`` source: real samples passed through unchanged (sample ``i`` of the source = item ``i``).

Why a source for real data: a recipe can then mix real and fake samples in one output (e.g. a training set of
real + generated faces written to the same COCO file), with each real sample's provenance saying where it came
from (``read:<format>``, its relative path). Recipe section::

    sources:
      - type: dataset
        count: 380
        input: {format: csv, path: data/orl/labels.csv, label_column: subject_id}
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from fakevision.core.errors import RecipeError
from fakevision.core.sample import Sample
from fakevision.engine.sources import BuildContext, SourceConfig, register_source
from fakevision.io.readers.base import Reader
from fakevision.io.readers.factory import ReaderSpec


class DatasetSourceConfig(SourceConfig):
    """``type: dataset``; ``input`` says what to read; ``count`` must not exceed the data set's size."""

    type: Literal["dataset"] = "dataset"
    input: ReaderSpec


class DatasetSource:
    """Item ``index`` of a reader, unchanged; ignores the generator (reading involves no randomness).

    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp()); (root / "cat").mkdir()
    >>> _ = (root / "cat" / "1.png").write_bytes(encode_image(np.zeros((4, 5, 3), np.uint8)))
    >>> cfg = DatasetSourceConfig(count=1, input={"format": "folder", "path": "."})
    >>> src = build_dataset_source(cfg, BuildContext(base_dir=root, recipe_hash="x", seed=0))
    >>> src.make(0, np.random.default_rng(0)).provenance.sample_id
    'cat/1.png'
    """

    def __init__(self, name: str, reader: Reader, count: int) -> None:
        self.name = name
        self.reader = reader
        self.count = count

    def make(self, index: int, rng: np.random.Generator) -> Sample:
        if not 0 <= index < self.count:
            raise IndexError(f"source {self.name!r}: index {index} outside 0..{self.count - 1}")
        return self.reader[index]


def build_dataset_source(config: SourceConfig, ctx: BuildContext) -> DatasetSource:
    assert isinstance(config, DatasetSourceConfig)
    reader = config.input.open(ctx.base_dir)
    if config.count < 0 or config.count > len(reader):
        raise RecipeError(
            f"source {config.source_name!r}: count {config.count} must be between 0 and the {len(reader)} samples "
            f"of {config.input.path}"
        )
    return DatasetSource(config.source_name, reader, config.count)


register_source("dataset", DatasetSourceConfig, build_dataset_source, "real samples read from a data set, unchanged")
