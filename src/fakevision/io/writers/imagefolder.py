"""Class-per-folder images, ``images/<label>/<id>.<ext>``: the layout ``torchvision.datasets.ImageFolder`` and most
classification tooling read. Only pixels and the folder name survive; everything else is in ``manifest.jsonl``.
Samples without a label go to ``images/unlabelled/``. Labels are made file-name safe like ids (``file_stem``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fakevision.core.sample import Sample
from fakevision.io.codecs import EncodedSample, check_unique_stems, encoded, file_stem, image_ext
from fakevision.io.storage import Storage, as_storage
from fakevision.io.writers.base import ShardInfo

IMAGES_DIR = "images"
UNLABELLED = "unlabelled"


def label_folder(label: str | None) -> str:
    """The folder name of a class label.

    >>> label_folder("cat"), label_folder(None), label_folder(""), label_folder("a/b")
    ('cat', 'unlabelled', 'unlabelled', 'a_b')
    """
    return file_stem(label) if label else UNLABELLED


class ImageFolderWriter:
    """Writes ``images/<label>/<id>.<ext>``; ``finalize`` has nothing to merge.

    >>> import tempfile, numpy as np
    >>> from fakevision.core import Annotations, Provenance, Sample
    >>> out = Path(tempfile.mkdtemp())
    >>> s = Sample(np.zeros((4, 4, 3), np.uint8), Annotations(label="cat"), Provenance("demo", "demo-0"))
    >>> ImageFolderWriter().write_shard(out, ShardInfo(0, 1, 0), [s])
    >>> [p.relative_to(out).as_posix() for p in out.rglob("*.png")]
    ['images/cat/demo-0.png']
    """

    name = "imagefolder"

    def __init__(self, image_format: str = "png", jpeg_quality: int = 95) -> None:
        self.ext = image_ext(image_format)
        self.jpeg_quality = jpeg_quality

    def sample_files(self, shard: ShardInfo, sample: Sample) -> dict[str, str]:
        """Paths (relative to ``out_dir``) of the files this writer makes for ``sample``."""
        folder = label_folder(sample.annotations.label)
        return {"image": f"{IMAGES_DIR}/{folder}/{file_stem(sample.id)}.{self.ext}"}

    def write_shard(self, out_dir: Path | str | Storage, shard: ShardInfo,
                    inputs: Sequence[Sample | EncodedSample]) -> None:
        store = as_storage(out_dir)
        enc = [encoded(s) for s in inputs]
        check_unique_stems([e.sample for e in enc], store.url(IMAGES_DIR))
        for e in enc:
            store.write_bytes(self.sample_files(shard, e.sample)["image"], e.image_bytes(self.ext, self.jpeg_quality))

    def finalize(self, out_dir: Path | str | Storage, num_shards: int) -> None:
        """Nothing to merge: every file is final when its shard is written."""
