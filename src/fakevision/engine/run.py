"""``make``: run a recipe into an output folder — fresh, resumed after a kill, a no-op when already finished, or
refused.

The output is a local folder or any fsspec URL (``s3://bucket/prefix``; ``fakevision.io.storage``), with the same
rules on both.

While a run is in progress its state lives in one hidden folder, ``OUT/.state/``: ``run.json`` (the recipe hash and
plan), ``shards/<n>.done`` (one marker per finished shard) and ``parts/<format>/`` (the writers' per-shard parts
that ``finalize`` merges). Rerunning the same recipe into a folder whose run did not finish resumes it: shards
marked done are kept, the rest are made again (each shard is a pure function of (recipe, shard), so the result is
byte-identical to an uninterrupted run). When the run finishes, ``.state/`` is deleted, so a finished output holds
only what users load plus ``recipe.json``, which is also the record that the run finished: rerunning the same recipe
then does nothing and says so. Anything else already in the folder is refused (naming what differs) unless
``overwrite`` is set, and ``overwrite`` only ever deletes a folder fakevision made.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakevision.core.errors import OutputError
from fakevision.engine.backend import DEFAULT_MAX_RETRIES, Backend, get_backend
from fakevision.engine.recipe import Recipe
from fakevision.engine.shard import STATE_DIR, done_name, finalize, plan_of
from fakevision.io.atomic import dumps_json
from fakevision.io.storage import Storage, as_storage

ProgressFn = Callable[[int, int], None]  # (samples done so far, total)
RUN_STATE = f"{STATE_DIR}/run.json"
COMPLETE = f"{STATE_DIR}/complete"
RECIPE_FILE = "recipe.json"


@dataclass
class RunResult:
    """What ``make`` did: ``made`` samples in this call out of ``total`` (fewer after a resume, 0 when the folder
    already held the finished run: ``already_finished``)."""

    out_dir: Path | str  # a local folder, or the storage URL
    total: int
    made: int  # samples made in this call (less than total after a resume)
    resumed_shards: int
    seconds: float
    already_finished: bool = False

    @property
    def samples_per_second(self) -> float:
        return self.made / self.seconds if self.seconds > 0 else float("inf")


def _state(out: Storage) -> dict | None:
    try:
        return json.loads(out.read_bytes(RUN_STATE))
    except (OSError, ValueError):
        return None


def _stored_recipe(out: Storage) -> dict[str, Any] | None:
    """The canonical recipe a run wrote to ``OUT/recipe.json`` (None when absent or unreadable)."""
    try:
        data = json.loads(out.read_bytes(RECIPE_FILE))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _hash_of(canonical: dict[str, Any]) -> str:
    return hashlib.sha256(dumps_json(canonical).encode()).hexdigest()


def _finished_hash(out: Storage) -> str | None:
    """The recipe hash of the finished run in ``out``, or None when it holds no finished run. Finished = a
    ``recipe.json`` and either no run state (cleaned up) or a completion mark (clean-up was interrupted)."""
    stored = _stored_recipe(out)
    if stored is None:
        return None
    if out.exists(RUN_STATE) and not out.exists(COMPLETE):
        return None
    return _hash_of(stored)


def is_finished(recipe: Recipe, out_dir: str | Path | Storage) -> bool:
    """True when ``out_dir`` holds a complete run of exactly this recipe (same recipe hash, seed included).

    >>> import tempfile
    >>> r = Recipe.from_dict({"sources": [{"type": "render", "count": 1}], "outputs": ["manifest"]})
    >>> out = tempfile.mkdtemp() + "/out"
    >>> is_finished(r, out), make(r, out).made, is_finished(r, out), make(r, out).already_finished
    (False, 1, True, True)
    """
    return _finished_hash(as_storage(out_dir)) == recipe.recipe_hash


def recipe_differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """The key paths where two canonical recipes differ, with both values (lists compared item by item).

    >>> recipe_differences({"seed": 0, "sources": [{"count": 3}]}, {"seed": 1, "sources": [{"count": 3}]})
    [('seed', 0, 1)]
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += recipe_differences(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += recipe_differences(a, b, f"{path}.{i}" if path else str(i))
        return out
    return [] if old == new else [(path or "<top>", old, new)]


def _short(v: Any, width: int = 60) -> str:
    text = json.dumps(v, sort_keys=True) if not isinstance(v, str) else repr(v)
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_difference(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """What distinguishes the run already in a folder from the one asked for, in words a user can act on:
    different input data, a different seed, or a different recipe (naming the first keys that differ).

    >>> a = {"seed": 0, "sources": [{"type": "augment", "input": {"path": "faces"}}]}
    >>> b = {"seed": 0, "sources": [{"type": "augment", "input": {"path": "eyes"}}]}
    >>> describe_difference(a, b)
    "different input data (sources.0.input.path: 'faces' there, 'eyes' now)"
    >>> describe_difference(a, {**a, "seed": 5})
    'a different seed (0 there, 5 now)'
    """
    if old is None:
        return "a different recipe (its recipe.json is missing or unreadable)"
    diffs = recipe_differences(old, new)
    if not diffs:
        return "the same recipe, hashed differently (made by another fakevision version)"
    shown = "; ".join(f"{k}: {_short(a)} there, {_short(b)} now" for k, a, b in diffs[:3])
    more = f"; and {len(diffs) - 3} more" if len(diffs) > 3 else ""
    keys = [k for k, _, _ in diffs]
    if keys == ["seed"]:
        return f"a different seed ({diffs[0][1]} there, {diffs[0][2]} now)"
    inputs = [k for k in keys if ".input" in k]
    if inputs and all(".input" in k or k.endswith(".count") for k in keys):
        return f"different input data ({shown}{more})"
    return f"a different recipe ({shown}{more})"


def _files_digest(root: Path) -> str:
    """A cheap digest of the files under ``root`` (relative path, size, modification time): it changes when a file
    is added, removed or rewritten, without reading any file's bytes (a 100k-image folder costs one stat each)."""
    h = hashlib.sha256()
    if root.is_file():
        st = root.stat()
        h.update(f"{root.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    elif root.is_dir():
        for p in sorted(root.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    else:
        h.update(b"<missing>")
    return h.hexdigest()


def input_fingerprints(recipe: Recipe) -> dict[str, str]:
    """Per source that reads a data set (an ``input:`` with a ``path``, e.g. ``augment`` and ``dataset``), a digest
    of the files there. Kept in the run state (never in the output: modification times differ between machines),
    so resuming an unfinished run after its input data changed is refused instead of mixing old and new data.

    >>> input_fingerprints(Recipe.from_dict({"sources": [{"type": "render", "count": 1}]}))
    {}
    """
    out: dict[str, str] = {}
    for cfg in recipe.sources:
        spec = getattr(cfg, "input", None)
        path = getattr(spec, "path", None)
        if path is None:
            continue
        digests = [_files_digest(recipe.base_dir / Path(path).expanduser())]
        root = getattr(spec, "image_root", None)
        if root is not None:
            digests.append(_files_digest(recipe.base_dir / Path(root).expanduser()))
        out[cfg.source_name] = hashlib.sha256("".join(digests).encode()).hexdigest()
    return out


def _prepare(recipe: Recipe, out: Storage, overwrite: bool) -> bool:
    """Get ``out`` ready for ``recipe``; True when it already holds this recipe's finished run (nothing to do)."""
    if out.local_path is not None and out.local_path.exists() and not out.local_path.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if not out.is_empty():
        state = _state(out)
        finished = _finished_hash(out)
        ours = state is not None or finished is not None
        if overwrite:
            if not ours:
                raise OutputError(f"{out}: not empty and not a fakevision output; refusing to delete it with "
                                  "--overwrite (choose an empty or new folder)")
            out.remove_all()
        elif finished == recipe.recipe_hash:
            return True
        elif state is not None and finished is None and state.get("recipe_hash") == recipe.recipe_hash:
            then, now = state.get("inputs"), input_fingerprints(recipe)
            changed = [] if then is None else sorted(k for k in set(then) | set(now) if then.get(k) != now.get(k))
            if changed:
                raise OutputError(f"{out}: output folder holds an unfinished run made from different input data "
                                  f"(the files read by source(s) {', '.join(changed)} changed since it started); "
                                  "use --overwrite to start again from the data as it is now")
        else:
            if not ours:
                what = "files that fakevision did not make"
            else:
                status = "a finished run" if finished is not None else "an unfinished run"
                what = f"{status} with {describe_difference(_stored_recipe(out), recipe.canonical())}"
            raise OutputError(f"{out}: output folder already exists and holds {what}; use --overwrite to replace it "
                              "(or choose another --out)")
    out.prepare_root()
    plan = plan_of(recipe)
    out.write_json(RUN_STATE, {
        "recipe_hash": recipe.recipe_hash, "total": plan.total, "num_shards": plan.num_shards,
        "shard_size": plan.shard_size, "inputs": input_fingerprints(recipe),
    })
    out.write_text(RECIPE_FILE, dumps_json(recipe.canonical()) + "\n")
    return False


def _clean_up_state(out: Storage) -> None:
    """Delete the run state of a finished run (``complete`` last, so an interrupted clean-up is still a finished
    run that the next call finishes cleaning)."""
    out.remove(".parts")  # where parts lived before they moved into the run state
    for rel in (f"{STATE_DIR}/parts", f"{STATE_DIR}/shards", RUN_STATE):
        out.remove(rel)
    out.remove(COMPLETE)
    out.remove(STATE_DIR)


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
    plan = plan_of(recipe)
    t0 = time.perf_counter()
    if _prepare(recipe, out, overwrite):
        _clean_up_state(out)  # a clean-up a kill interrupted
        if progress:
            progress(plan.total, plan.total)
        return RunResult(out.local_path or out.url(), plan.total, 0, plan.num_shards, time.perf_counter() - t0,
                         already_finished=True)
    out.remove_stale_temps()
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
    # A worker that died (or was stopped with the pool a dying worker broke) may have left a temp file mid-write;
    # its shard ran again under a new name, so what is left now is litter (seen as a stray empty .fvtmp- tar).
    out.remove_stale_temps()
    finalize(recipe, out)
    out.write_json(COMPLETE, {"total": plan.total})
    _clean_up_state(out)
    return RunResult(out.local_path or out.url(), plan.total, plan.total - already, plan.num_shards - len(todo),
                     time.perf_counter() - t0)
