"""A fakevision output folder read back as a data set (format ``fakevision``), so the output of one run can be the
input of the next: ``fakevision augment OUT --preset camera --out OUT2`` or a recipe's ``input: {path: OUT}`` —
``OUT`` a local folder or the URL it was written to (``s3://bucket/run1``).

Reading goes through ``FakevisionDataset`` (COCO, then WebDataset shards, then the image folder; see
``fakevision.io.dataset``), so every annotation comes back exactly as it was written, in our coordinate convention
already (nothing to convert). Samples keep the provenance they were made with (``render``, ``augment``, ...), and
ids are the sample ids: an augmented copy's ``parents`` then names the very sample it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fakevision.core.errors import InputError
from fakevision.core.sample import Sample
from fakevision.io.readers.base import Reader, require_path
from fakevision.io.storage import is_url

#: Files whose presence makes a folder a fakevision output (any one of them; ``recipe.json`` alone is not enough).
OUTPUT_MARKERS = ("coco/annotations.json", "manifest.jsonl", "webdataset/info.json")


def is_fakevision_output(path: str | Path) -> bool:
    """True when ``path`` is a folder written by ``fakevision make``/``augment`` (COCO, manifest or WebDataset
    index, or a ``recipe.json`` beside WebDataset shards or an image folder).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> is_fakevision_output(d)
    False
    >>> (d / "coco").mkdir(); _ = (d / "coco" / "annotations.json").write_text("{}")
    >>> is_fakevision_output(d)
    True
    """
    p = Path(path)
    if not p.is_dir():
        return False
    if any((p / m).is_file() for m in OUTPUT_MARKERS):
        return True
    return (p / "recipe.json").is_file() and (any((p / "webdataset").glob("shard-*.tar")) or (p / "images").is_dir())


def _convert(image: np.ndarray, mode: str) -> np.ndarray:
    """The image in the reader's colour ``mode`` (outputs keep the channels they were written with)."""
    if mode == "keep":
        return image
    grey = image.ndim == 2 or image.shape[2] == 1
    if mode == "L":
        if grey:
            return image.reshape(image.shape[0], image.shape[1], 1)
        rgb = image[:, :, :3].astype(np.float32)
        y = rgb @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as PIL's convert("L")
        return np.clip(np.rint(y), 0, 255).astype(image.dtype)[:, :, None]
    if grey:
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


class FakevisionOutputReader(Reader):
    """Read the samples of a fakevision output folder, annotations and provenance included.

    >>> import tempfile
    >>> from fakevision.core import Annotations, Provenance
    >>> from fakevision.io.writers import ShardInfo, make_writer
    >>> out = Path(tempfile.mkdtemp())
    >>> s = Sample(np.zeros((8, 8, 3), np.uint8), Annotations(label="cat", categories=["cube"],
    ...            boxes=[[1, 2, 5, 6]]), Provenance("demo", "demo-0"))
    >>> w = make_writer("coco"); w.write_shard(out, ShardInfo(0, 1, 0), [s]); w.finalize(out, 1)
    >>> r = FakevisionOutputReader(out)
    >>> len(r), r[0].id, r[0].annotations.boxes.tolist(), r.labels
    (1, 'demo-0', [[1.0, 2.0, 5.0, 6.0]], ['cat'])
    """

    format = "fakevision"

    def __init__(self, path: str | Path, mode: str = "RGB") -> None:
        from fakevision.io.dataset import FakevisionDataset  # imports torch: only when an output is read

        remote = is_url(path)
        super().__init__(Path(".") if remote else require_path(path, "folder"), mode)
        self.location = str(path) if remote else str(self.root)
        try:
            self._ds = FakevisionDataset(str(path) if remote else self.root)
        except InputError as e:
            raise InputError(f"not a readable fakevision output ({e.problem})", e.path or self.location,
                             fix=e.fix) from None
        self._ids = list(self._ds.ids())
        labels: Any = getattr(self._ds._backend, "labels", None)  # COCO: labels without decoding any image
        self._labels: list[str | None] | None = list(labels) if isinstance(labels, list) else None

    @property
    def labels(self) -> list[str | None]:
        """Class label of every sample (from the COCO file without decoding; otherwise each sample is read)."""
        if self._labels is None:
            self._labels = [self._load(i).annotations.label for i in range(len(self))]
        return list(self._labels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r}, {len(self)} samples)"

    def _where(self, i: int) -> str | Path:
        return f"{self.location}#{self._ids[i]}"

    def _load(self, i: int) -> Sample:
        s = self._ds.to_sample(i)
        image = _convert(s.image, self.mode)
        return s if image is s.image else Sample(image, s.annotations, s.provenance)
