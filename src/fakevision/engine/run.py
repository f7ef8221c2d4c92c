"""``make``: run a recipe into an output folder — fresh, resumed after a kill, or refused.

The folder's ``.state/run.json`` records the recipe hash and plan. Rerunning the same recipe into a folder whose
run did not finish resumes it: shards marked done are kept, the rest are made again (each shard is a pure function
of (recipe, shard), so the result is byte-identical to an uninterrupted run). Anything else already in the folder
is refused unless ``overwrite`` is set, and ``overwrite`` only ever deletes a folder fakevision made.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fakevision.core.errors import OutputError
from fakevision.engine.backend import DEFAULT_MAX_RETRIES, Backend, get_backend
from fakevision.engine.recipe import Recipe
from fakevision.engine.shard import STATE_DIR, done_marker, finalize, plan_of
from fakevision.io.atomic import atomic_write_json, atomic_write_text, dumps_json, remove_stale_temps

ProgressFn = Callable[[int, int], None]  # (samples done so far, total)


@dataclass
class RunResult:
    out_dir: Path
    total: int
    made: int  # samples made in this call (less than total after a resume)
    resumed_shards: int
    seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.made / self.seconds if self.seconds > 0 else float("inf")


def _state(out: Path) -> dict | None:
    p = out / STATE_DIR / "run.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def is_finished(recipe: Recipe, out_dir: str | Path) -> bool:
    """True when ``out_dir`` holds a complete run of exactly this recipe (same recipe hash, seed included)."""
    out = Path(out_dir)
    state = _state(out)
    return (state is not None and state.get("recipe_hash") == recipe.recipe_hash
            and (out / STATE_DIR / "complete").exists())


def _prepare(recipe: Recipe, out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        state = _state(out)
        same_unfinished = (state is not None and state.get("recipe_hash") == recipe.recipe_hash
                           and not (out / STATE_DIR / "complete").exists())
        if overwrite:
            if state is None:
                raise OutputError(f"{out}: not empty and not a fakevision output; refusing to delete it with "
                                  "--overwrite (choose an empty or new folder)")
            shutil.rmtree(out)
        elif not same_unfinished:
            what = "a finished run" if state is not None and (out / STATE_DIR / "complete").exists() else "files"
            if state is not None and state.get("recipe_hash") != recipe.recipe_hash:
                what = "a run of a different recipe or seed"
            raise OutputError(f"{out}: output folder already exists and holds {what}; use --overwrite to replace it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create output folder ({e.strerror})") from None
    plan = plan_of(recipe)
    atomic_write_json(out / STATE_DIR / "run.json", {
        "recipe_hash": recipe.recipe_hash, "total": plan.total, "num_shards": plan.num_shards,
        "shard_size": plan.shard_size,
    })
    atomic_write_text(out / "recipe.json", dumps_json(recipe.canonical()) + "\n")


def make(
    recipe: Recipe,
    out_dir: str | Path,
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
    out = Path(out_dir)
    _prepare(recipe, out, overwrite)
    remove_stale_temps(out)
    plan = plan_of(recipe)
    todo = [s for s in range(plan.num_shards) if not done_marker(out, s).exists()]
    already = sum(plan.shard_range(s)[1] - plan.shard_range(s)[0] for s in range(plan.num_shards)
                  if done_marker(out, s).exists())
    done_count = already
    if progress:
        progress(done_count, plan.total)
    t0 = time.perf_counter()

    def on_done(_shard: int, n: int) -> None:
        nonlocal done_count
        done_count += n
        if progress:
            progress(done_count, plan.total)

    backend.run(recipe, todo, str(out), on_done)
    finalize(recipe, out)
    atomic_write_json(out / STATE_DIR / "complete", {"total": plan.total})
    return RunResult(out, plan.total, plan.total - already, plan.num_shards - len(todo), time.perf_counter() - t0)
