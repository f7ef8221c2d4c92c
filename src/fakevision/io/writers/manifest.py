"""``manifest.jsonl``: one canonical JSON line per sample, in run order: id, run-wide ``index``, source,
provenance, label, attributes, size, annotation counts, and where the sample's files are in the other outputs of
the same run (``files``: writer name -> paths relative to ``out_dir``, from each writer's own ``sample_files``, so
the naming lives in one place). It is the index ``fakevision inspect`` and the report read first.

Each shard writes ``.state/parts/manifest/<shard>.jsonl``; ``finalize`` concatenates them in shard order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from fakevision.core.errors import OutputError
from fakevision.core.sample import Sample, jsonable
from fakevision.io.atomic import dumps_json
from fakevision.io.codecs import EncodedSample, encoded
from fakevision.io.storage import Storage, as_storage
from fakevision.io.writers.base import ShardInfo
from fakevision.io.writers.coco import part_name

MANIFEST = "manifest.jsonl"


class NamedFiles(Protocol):
    """A writer that can say where it puts a sample's files (every built-in writer can)."""

    name: str

    def sample_files(self, shard: ShardInfo, sample: Sample) -> dict[str, str]: ...


def sample_counts(sample: Sample) -> dict[str, Any]:
    """Annotation counts of one sample, as the manifest stores them.

    >>> import numpy as np
    >>> from fakevision.core import Annotations
    >>> s = Sample(np.zeros((2, 2, 3), np.uint8), Annotations(categories=["a", "a"], boxes=np.zeros((2, 4))))
    >>> c = sample_counts(s)
    >>> c["instances"], c["per_category"], c["masks"], c["depth"], c["normals"], c["label_map"], c["keypoints"]
    (2, {'a': 2}, False, False, False, False, None)
    """
    a = sample.annotations
    kp = None
    if a.keypoints is not None and a.visibility is not None:
        kp = {f"v{v}": int((a.visibility == v).sum()) for v in (0, 1, 2)}
    return {
        "instances": a.num_instances,
        "per_category": dict(sorted(Counter(a.categories).items())),
        "masks": a.masks is not None,
        "depth": a.depth is not None,
        "normals": a.normals is not None,
        "label_map": a.label_map is not None,
        "keypoints": kp,
    }


class ManifestWriter:
    """Writes ``manifest.jsonl``; ``linked`` are the run's other writers, whose file paths each line records.

    >>> import tempfile, json, numpy as np
    >>> from fakevision.core import Annotations, Provenance, Sample
    >>> from fakevision.io.writers.imagefolder import ImageFolderWriter
    >>> out = Path(tempfile.mkdtemp())
    >>> s = Sample(np.zeros((4, 4, 3), np.uint8), Annotations(label="cat"), Provenance("demo", "demo-0"))
    >>> w = ManifestWriter(linked=[ImageFolderWriter()])
    >>> w.write_shard(out, ShardInfo(0, 1, 0), [s]); w.finalize(out, 1)
    >>> json.loads((out / "manifest.jsonl").read_text())["files"]
    {'imagefolder': {'image': 'images/cat/demo-0.png'}}
    """

    name = "manifest"

    def __init__(self, linked: Sequence[NamedFiles] = ()) -> None:
        self.linked = [w for w in linked if w.name != self.name]

    def record(self, shard: ShardInfo, i: int, sample: Sample) -> dict[str, Any]:
        """The manifest line of sample ``i`` of ``shard``."""
        a = sample.annotations
        return jsonable({
            "id": sample.id,
            "index": shard.first + i,
            "source": sample.provenance.source,
            "provenance": sample.provenance.to_dict(),
            "label": a.label,
            "attributes": a.attributes,
            "width": sample.width,
            "height": sample.height,
            "counts": sample_counts(sample),
            "files": {w.name: w.sample_files(shard, sample) for w in self.linked},
        })

    def write_shard(self, out_dir: Path | str | Storage, shard: ShardInfo,
                    inputs: Sequence[Sample | EncodedSample]) -> None:
        store = as_storage(out_dir)
        part = part_name(self.name, shard.index, "jsonl")
        samples = [encoded(s).sample for s in inputs]
        try:
            lines = [dumps_json(self.record(shard, i, s)) + "\n" for i, s in enumerate(samples)]
        except ValueError as e:
            raise OutputError(f"{store.url(part)}: cannot encode a sample ({e})") from None
        store.write_text(part, "".join(lines))

    def finalize(self, out_dir: Path | str | Storage, num_shards: int) -> None:
        store = as_storage(out_dir)
        with store.writer(MANIFEST) as f:
            for k in range(num_shards):
                part = part_name(self.name, k, "jsonl")
                try:
                    f.write(store.read_bytes(part))
                except FileNotFoundError:
                    raise OutputError(f"{store.url(part)}: shard part missing; rerun the shard before "
                                      "finalizing") from None
