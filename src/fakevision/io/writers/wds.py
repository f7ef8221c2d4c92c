"""WebDataset tar shards, ``webdataset/shard-<shard:06d>.tar``: the streaming format for large-scale training
(``webdataset.WebDataset(urls)`` reads them; so does any tar tool).

Per sample, under the key ``file_stem(id)``:

* ``<key>.png`` or ``<key>.jpg``: the image;
* ``<key>.json``: the full record (``io.records.sample_record``): boxes xyxy in our convention, categories,
  keypoints + visibility + schema, label, attributes, instance attributes, provenance, extras, at full precision;
* ``<key>.mask.png``: instance ids (0 background, ``i + 1`` instance ``i``; 16-bit above 255; later instance wins
  shared pixels) when the sample has masks, plus ``<key>.masks.png`` (the N exact masks stacked vertically) when
  masks overlap, see ``io.codecs``;
* ``<key>.depth.png``: 16-bit millimetre depth, when present;
* ``<key>.normals.png``: surface normals as a 16-bit RGB PNG (``io.codecs.encode_normals_png``), when present;
* ``<key>.labelmap.png``: the semantic label map (class ids, names in the JSON's ``label_names``), when present.

Tars are byte-reproducible: members in sorted order, ``mtime`` 0, uid/gid 0, empty user/group names, mode 0444.
Each tar is written under a temp name and renamed, so a shard is whole or absent. They are the bytes
``webdataset.TarWriter(f, user="", group="", mode=0o444, encoder=False, mtime=0)`` writes (tested), written with
the standard library's ``tarfile`` the way it does: importing ``webdataset`` imports PyTorch, ~2 s of every
``fakevision make`` (measured; the default job takes ~10 s), for a class of twenty lines. The per-shard summary
``.state/parts/webdataset/<shard>.json`` is merged by ``finalize`` into ``webdataset/info.json`` (shard list, sample
count, sorted category and label names, and ``category_ids``: the run's class ids, the same as the COCO
category ids and the label maps' values, see ``io.records.class_ids``), which lets a reader build class indices
without opening every tar.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Self

from fakevision.core.errors import OutputError
from fakevision.core.sample import Sample
from fakevision.io.atomic import dumps_json
from fakevision.io.codecs import EncodedSample, check_unique_stems, encoded, file_stem, image_ext
from fakevision.io.records import class_ids, label_id_claims, sample_record
from fakevision.io.storage import Storage, as_storage
from fakevision.io.writers.base import ShardInfo
from fakevision.io.writers.coco import part_name

WDS_DIR = "webdataset"
INFO = f"{WDS_DIR}/info.json"


def shard_name(shard_index: int) -> str:
    """Relative path of a shard's tar.

    >>> shard_name(3)
    'webdataset/shard-000003.tar'
    """
    return f"{WDS_DIR}/shard-{shard_index:06d}.tar"


class _TarWriter:
    """Writes samples (dicts of ``__key__`` and extension -> bytes) to a tar stream exactly as
    ``webdataset.TarWriter(f, user="", group="", mode=0o444, encoder=False, mtime=0)`` (webdataset 1.0) does: a
    ``tarfile`` stream (``"w|"``, the default PAX format), one member ``<key>.<ext>`` per entry in sorted order."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        self.tar = tarfile.open(fileobj=fileobj, mode="w|")  # noqa: SIM115 - closed by __exit__

    def write(self, sample: dict[str, Any]) -> None:
        key = sample["__key__"]
        for ext in sorted(sample):
            if ext.startswith("_"):
                continue
            data = sample[ext]
            if isinstance(data, str):
                data = data.encode("utf-8")
            if not isinstance(data, bytes | bytearray | memoryview):
                raise ValueError(f"{ext} doesn't map to bytes ({type(data)})")  # noqa: TRY004 - as webdataset
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode, info.uname, info.gname = len(data), 0, 0o444, "", ""
            self.tar.addfile(info, io.BytesIO(data))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tar.close()


class WebDatasetWriter:
    """Writes one tar per shard (the bytes of ``webdataset.TarWriter``, see the module docstring).

    >>> import tempfile, numpy as np
    >>> from fakevision.core import Annotations, Provenance, Sample
    >>> out = Path(tempfile.mkdtemp())
    >>> s = Sample(np.zeros((4, 4, 3), np.uint8), Annotations(label="cat"), Provenance("demo", "demo-0"))
    >>> WebDatasetWriter().write_shard(out, ShardInfo(0, 1, 0), [s])
    >>> import webdataset
    >>> [sorted(k for k in d if not k.startswith("__")) for d in webdataset.WebDataset(
    ...     str(out / shard_name(0)), shardshuffle=False, empty_check=False)]
    [['json', 'png']]
    """

    name = "webdataset"

    def __init__(self, image_format: str = "png", jpeg_quality: int = 95) -> None:
        self.ext = image_ext(image_format)
        self.jpeg_quality = jpeg_quality

    def sample_files(self, shard: ShardInfo, sample: Sample) -> dict[str, str]:
        """Where this writer puts ``sample``: the tar (relative to ``out_dir``) and the key inside it."""
        return {"tar": shard_name(shard.index), "key": file_stem(sample.id)}

    def _entry(self, sample: Sample | EncodedSample, key: str) -> dict[str, Any]:
        e = encoded(sample)
        sample = e.sample
        a = sample.annotations
        entry: dict[str, Any] = {
            "__key__": key,
            self.ext: e.image_bytes(self.ext, self.jpeg_quality),
            "json": dumps_json(sample_record(sample)).encode("utf-8"),
        }
        if a.masks is not None:
            ids, stack = e.instance_masks()
            entry["mask.png"] = ids
            if stack is not None:
                entry["masks.png"] = stack
        if a.depth is not None:
            entry["depth.png"] = e.depth_png()
        if a.normals is not None:
            entry["normals.png"] = e.normals_png()
        if a.label_map is not None:
            entry["labelmap.png"] = e.label_map_png(f"{sample.id} label_map")
        return entry

    def write_shard(self, out_dir: Path | str | Storage, shard: ShardInfo,
                    inputs: Sequence[Sample | EncodedSample]) -> None:
        store = as_storage(out_dir)
        name = shard_name(shard.index)
        enc = [encoded(s) for s in inputs]
        samples = [e.sample for e in enc]
        keys = check_unique_stems(samples, store.url(name))
        with store.writer(name) as f, _TarWriter(f) as tw:
            for e, s, k in zip(enc, samples, keys, strict=True):  # streamed: one sample's bytes in memory at a time
                try:
                    entry = self._entry(e, k)
                except ValueError as e:  # e.g. NaN in attributes: JSON refuses it
                    raise OutputError(f"{store.url(name)}: cannot encode sample {s.id!r} ({e})") from None
                tw.write(entry)
        summary = {
            "shard": name,
            "num_samples": len(samples),
            "categories": sorted({c for s in samples for c in s.annotations.categories}),
            "labels": sorted({s.annotations.label for s in samples if s.annotations.label is not None}),
            "label_ids": label_id_claims(samples),
        }
        store.write_json(part_name(self.name, shard.index), summary)

    def finalize(self, out_dir: Path | str | Storage, num_shards: int) -> None:
        store = as_storage(out_dir)
        shards, cats, labels, total, claims = [], set(), set(), 0, []
        for k in range(num_shards):
            p = part_name(self.name, k)
            try:
                part = json.loads(store.read_bytes(p).decode("utf-8"))
            except FileNotFoundError:
                raise OutputError(f"{store.url(p)}: shard part missing; rerun the shard before finalizing") from None
            except (OSError, ValueError) as e:
                raise OutputError(f"{store.url(p)}: unreadable shard part ({e})") from None
            if not store.is_file(part["shard"]):
                raise OutputError(f"{store.url(part['shard'])}: shard tar missing; rerun the shard")
            shards.append({"path": part["shard"], "num_samples": part["num_samples"]})
            cats.update(part["categories"])
            labels.update(part["labels"])
            claims += part.get("label_ids", [])
            total += part["num_samples"]
        ids = class_ids(claims, cats)
        info = {"shards": shards, "num_samples": total, "categories": sorted(cats), "labels": sorted(labels),
                "category_ids": ids}
        store.write_json(INFO, info)
