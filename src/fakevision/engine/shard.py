"""A shard as a pure function of (recipe, shard index): make its samples, write them with every writer, mark it
done. Every backend (``engine.backend``: local processes, Ray) only decides *where* ``run_shard`` is called, so
the bytes written do not depend on the backend, the number of workers, retries or resumes."""

from __future__ import annotations

from pathlib import Path

from fakevision.core.errors import SourceError
from fakevision.core.sample import Sample
from fakevision.core.source import Source
from fakevision.core.source import make_sample as stamped_sample
from fakevision.engine.plan import Plan
from fakevision.engine.recipe import Recipe
from fakevision.io.codecs import EncodedSample
from fakevision.io.storage import Storage, as_storage
from fakevision.io.writers import OutputSpec, make_writers
from fakevision.io.writers.base import RUN_STATE_DIR, ShardInfo, Writer

STATE_DIR = RUN_STATE_DIR

_CACHE: dict[str, tuple[list[Source], list[Writer]]] = {}


def plan_of(recipe: Recipe) -> Plan:
    return Plan(tuple(s.source_name for s in recipe.sources), tuple(s.count for s in recipe.sources),
                recipe.shard_size)


def _built(recipe: Recipe) -> tuple[list[Source], list[Writer]]:
    """Sources and writers are built once per process and reused for every shard it runs."""
    key = recipe.recipe_hash
    if key not in _CACHE:
        writers = make_writers([OutputSpec.model_validate(o) for o in recipe.outputs])
        _CACHE.clear()
        _CACHE[key] = (recipe.build_sources(), writers)
    return _CACHE[key]


def make_sample(recipe: Recipe, number: int, sources: list[Source] | None = None) -> Sample:
    """Run-wide sample ``number`` of ``recipe``: its source's ``Made``, stamped with provenance; every random
    stream derives from (seed, source name, index) (``fakevision.core.source``).

    A source that raises (anything but fakevision's own errors, which already name their file) becomes a
    ``SourceError`` naming the shard, the source, the sample and the line that raised."""
    plan = plan_of(recipe)
    srcs = sources if sources is not None else _built(recipe)[0]
    pos, index = plan.locate(number)
    try:
        return stamped_sample(srcs[pos], index, recipe.seed, recipe.recipe_hash)
    except SourceError as e:  # add where in the run it happened; keep the original error as the cause
        shard = number // plan.shard_size
        first, stop = plan.shard_range(shard)
        raise SourceError(f"shard {shard} (samples {first}..{stop - 1}): {e} (run-wide sample {number})") \
            from e.__cause__


def make_shard(recipe: Recipe, shard: int) -> list[Sample]:
    """All samples of shard ``shard``, in order."""
    start, stop = plan_of(recipe).shard_range(shard)
    sources = _built(recipe)[0]
    return [make_sample(recipe, n, sources) for n in range(start, stop)]


def done_name(shard: int) -> str:
    """The done marker of ``shard``, relative to the output root; written last, after every file of the shard."""
    return f"{STATE_DIR}/shards/{shard:06d}.done"


def done_marker(out_dir: Path, shard: int) -> Path:
    """``done_name`` under a local folder."""
    return Path(out_dir) / done_name(shard)


def run_shard(recipe: Recipe, shard: int, out_dir: str | Path | Storage) -> int:
    """Make and write shard ``shard`` under ``out_dir`` (a folder or a storage URL), then mark it done; returns its
    sample count."""
    out = as_storage(out_dir)
    plan = plan_of(recipe)
    start, stop = plan.shard_range(shard)
    # one EncodedSample per sample, shared by every writer: each file is encoded once, however many outputs
    samples = [EncodedSample(s) for s in make_shard(recipe, shard)]
    info = ShardInfo(index=shard, num_shards=plan.num_shards, first=start)
    for w in _built(recipe)[1]:
        w.write_shard(out, info, samples)
    out.write_json(done_name(shard), {"shard": shard, "first": start, "count": stop - start})
    return stop - start


def finalize(recipe: Recipe, out_dir: str | Path | Storage) -> None:
    """Merge per-shard parts into final files (every writer), once all shards are done."""
    out = as_storage(out_dir)
    for w in _built(recipe)[1]:
        w.finalize(out, plan_of(recipe).num_shards)
