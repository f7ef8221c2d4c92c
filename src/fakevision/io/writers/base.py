"""The writer contract. Writers never know which source made a sample; the engine never knows what is inside.

A run is cut into shards (consecutive runs of samples). For each shard the engine calls ``write_shard`` on every
writer, then marks the shard done; after the last shard it calls ``finalize`` once. The engine passes the shard's
samples as ``fakevision.io.codecs.EncodedSample`` objects, the same ones to every writer, so each image and map is
encoded once per run whatever the number of outputs; a writer takes plain ``Sample`` objects too (``encoded``).
Rules every writer keeps:

* ``out_dir`` is a local folder, an fsspec URL (``s3://bucket/prefix``) or a ``Storage``; writers address files by
  relative path through ``fakevision.io.storage.as_storage(out_dir)``, so every writer works on every storage.
* ``write_shard`` writes only files that belong to that shard, each atomically (``Storage.writer``), and is
  a pure function of (shard, samples): writing the same shard twice gives the same bytes. So a resumed run can
  simply redo any shard that was not marked done.
* ``finalize`` merges per-shard parts (e.g. COCO annotations) into the final files, deterministically, from what
  is on disk, so it works after a resume too.
* No timestamps, absolute paths or host names in any output; JSON with sorted keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from fakevision.core.sample import Sample
from fakevision.io.codecs import EncodedSample
from fakevision.io.storage import Storage

#: The hidden folder of an output that holds a run in progress (shard markers, writers' per-shard parts); the
#: engine deletes it when the run has finished.
RUN_STATE_DIR = ".state"


@dataclass(frozen=True)
class ShardInfo:
    """Which shard this is: ``index`` of ``num_shards``; ``first`` is the run-wide number of its first sample
    (sample ``i`` of the shard has global number ``first + i``, used e.g. for COCO image ids ``first + i + 1``)."""

    index: int
    num_shards: int
    first: int


@runtime_checkable
class Writer(Protocol):
    """Writes samples in one output format under ``out_dir``."""

    name: str

    def write_shard(self, out_dir: Path | str | Storage, shard: ShardInfo,
                    samples: Sequence[Sample | EncodedSample]) -> None: ...

    def finalize(self, out_dir: Path | str | Storage, num_shards: int) -> None: ...
