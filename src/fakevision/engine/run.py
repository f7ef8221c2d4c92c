"""``make``: run a recipe into an output folder — fresh, resumed after a kill, or refused.

The output is a local folder or any fsspec URL (``s3://bucket/prefix``; ``fakevision.io.storage``), with the same
rules on both.

The folder's ``.state/run.json`` records the recipe hash and plan. Rerunning the same recipe into a folder whose
run did not finish resumes it: shards marked done are kept, the rest are made again (each shard is a pure function
of (recipe, shard), so the result is byte-identical to an uninterrupted run). Anything else already in the folder
is refused unless ``overwrite`` is set, and ``overwrite`` only ever deletes a folder fakevision made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fakevision.core.errors import OutputError
from fakevision.engine.backend import DEFAULT_MAX_RETRIES, Backend, get_backend
from fakevision.engine.recipe import Recipe
from fakevision.engine.shard import STATE_DIR, done_name, finalize, plan_of
from fakevision.io.atomic import dumps_json
from fakevision.io.storage import Storage, as_storage

ProgressFn = Callable[[int, int], None]  # (samples done so far, total)
RUN_STATE = f"{STATE_DIR}/run.json"
COMPLETE = f"{STATE_DIR}/complete"


@dataclass
class RunResult:
    out_dir: Path | str  # a local folder, or the storage URL
    total: int
    made: int  # samples made in this call (less than total after a resume)
    resumed_shards: int
    seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.made / self.seconds if self.seconds > 0 else float("inf")


def _state(out: Storage) -> dict | None:
    try:
        return json.loads(out.read_bytes(RUN_STATE))
    except (OSError, ValueError):
        return None


def is_finished(recipe: Recipe, out_dir: str | Path | Storage) -> bool:
    """True when ``out_dir`` holds a complete run of exactly this recipe (same recipe hash, seed included)."""
    out = as_storage(out_dir)
    state = _state(out)
    return state is not None and state.get("recipe_hash") == recipe.recipe_hash and out.exists(COMPLETE)


def _prepare(recipe: Recipe, out: Storage, overwrite: bool) -> None:
    if out.local_path is not None and out.local_path.exists() and not out.local_path.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if not out.is_empty():
        state = _state(out)
        complete = state is not None and out.exists(COMPLETE)
        same_unfinished = state is not None and state.get("recipe_hash") == recipe.recipe_hash and not complete
        if overwrite:
            if state is None:
                raise OutputError(f"{out}: not empty and not a fakevision output; refusing to delete it with "
                                  "--overwrite (choose an empty or new folder)")
            out.remove_all()
        elif not same_unfinished:
            what = "a finished run" if complete else "files"
            if state is not None and state.get("recipe_hash") != recipe.recipe_hash:
                what = "a run of a different recipe or seed"
            raise OutputError(f"{out}: output folder already exists and holds {what}; use --overwrite to replace it")
    out.prepare_root()
    plan = plan_of(recipe)
    out.write_json(RUN_STATE, {
        "recipe_hash": recipe.recipe_hash, "total": plan.total, "num_shards": plan.num_shards,
        "shard_size": plan.shard_size,
    })
    out.write_text("recipe.json", dumps_json(recipe.canonical()) + "\n")


def make(
    recipe: Recipe,
    out_dir: str | Path | Storage,
    workers: int | None = 1,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    engine: str | Backend = "local",
    address: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> RunResult:
    """Run ``recipe`` into ``out_dir``; resumes an unfinished run of the same recipe.

    ``engine`` says where shards run (``engine.backend``): ``local`` (``workers`` processes) or ``ray`` (Ray
    tasks; ``address`` None = a local Ray runtime, ``auto`` / ``ray://...`` = a cluster; ``workers`` = shards in
    flight, None = one per CPU), or a ``Backend`` object. The files are the same bytes whichever runs them.

    >>> import tempfile
    >>> r = Recipe.from_dict({"sources": [{"type": "render", "count": 2}], "outputs": [{"format": "manifest"}]})
    >>> res = make(r, tempfile.mkdtemp() + "/out")
    >>> res.total, res.made
    (2, 2)
    """
    backend = engine if isinstance(engine, Backend) else get_backend(engine, workers, address, max_retries)
    out = as_storage(out_dir)
    _prepare(recipe, out, overwrite)
    out.remove_stale_temps()
    plan = plan_of(recipe)
    marked = set(out.list(f"{STATE_DIR}/shards"))  # one listing, not a request per shard on object storage
    done = {s for s in range(plan.num_shards) if done_name(s).rsplit("/", 1)[1] in marked}
    todo = [s for s in range(plan.num_shards) if s not in done]
    already = sum(plan.shard_range(s)[1] - plan.shard_range(s)[0] for s in done)
    done_count = already
    if progress:
        progress(done_count, plan.total)
    t0 = time.perf_counter()

    def on_done(_shard: int, n: int) -> None:
        nonlocal done_count
        done_count += n
        if progress:
            progress(done_count, plan.total)

    backend.run(recipe, todo, out.url(), on_done)
    finalize(recipe, out)
    out.write_json(COMPLETE, {"total": plan.total})
    return RunResult(out.local_path or out.url(), plan.total, plan.total - already, plan.num_shards - len(todo),
                     time.perf_counter() - t0)
