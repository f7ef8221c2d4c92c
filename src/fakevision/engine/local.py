"""The local backend: shards run in N worker processes (or in this process when N = 1).

Workers are started with ``spawn`` (no inherited renderer/GL/torch state) and die with their parent (Linux
``PR_SET_PDEATHSIG``), so a ``kill -9`` of ``fakevision make`` leaves no orphan still writing.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import signal
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from pathlib import Path

from fakevision.engine.recipe import Recipe
from fakevision.engine.shard import run_shard

_RECIPE: Recipe | None = None


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _init_worker(recipe: Recipe, threads: int) -> None:
    global _RECIPE
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _RECIPE = recipe
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def _work(shard: int, out_dir: str) -> tuple[int, int]:
    assert _RECIPE is not None
    return shard, run_shard(_RECIPE, shard, out_dir)


def run_local(
    recipe: Recipe,
    shards: Iterable[int],
    out_dir: Path,
    workers: int,
    on_done: Callable[[int, int], None],
) -> None:
    """Run ``shards`` of ``recipe``; ``on_done(shard, count)`` is called in this process as each one finishes.
    The first error stops the run (pending shards are cancelled) and is raised here."""
    todo = list(shards)
    if workers <= 1 or len(todo) <= 1:
        for s in todo:
            on_done(s, run_shard(recipe, s, out_dir))
        return
    ctx = mp.get_context("spawn")
    threads = 1
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(recipe, threads)) as pool:
        pending: set[Future[tuple[int, int]]] = {pool.submit(_work, s, str(out_dir)) for s in todo}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in done:
                    s, n = f.result()  # raises the worker's error
                    on_done(s, n)
        except BaseException:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
