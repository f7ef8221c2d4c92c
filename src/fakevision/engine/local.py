"""The local backend: shards run in N worker processes (or in this process when N = 1).

Workers are started with ``spawn`` (no inherited renderer/GL/torch state) and die with their parent (Linux
``PR_SET_PDEATHSIG``), so a ``kill -9`` of ``fakevision make`` leaves no orphan still writing. A worker that dies
(killed, out of memory) breaks the standard library's pool; the shards it held are then run again in a fresh pool,
up to ``max_retries`` times each. At most one shard per worker is in flight, so "the shards it held" is exactly
the shards that were running.

Workers are started with SIGINT blocked (a signal mask survives ``exec``) and ignore it once they run, so a Ctrl-C
while they are still importing reaches only the parent, which says one line, instead of every worker printing a
``KeyboardInterrupt`` traceback. Blocked, not ignored, in the parent while it spawns them: an ignored Ctrl-C pressed
in that window is lost (seen on a loaded machine, where spawning takes a while: the run went on to the end), a
blocked one is only delayed until the workers are started.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from fakevision.core.errors import EngineError
from fakevision.engine.backend import OnDone
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
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C ...
    if hasattr(signal, "pthread_sigmask"):  # ... and one pressed while we started (blocked until now) is dropped
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _RECIPE = recipe
    # One torch thread per worker, without importing torch (~2 s per worker) for recipes that never use it: torch
    # reads OMP_NUM_THREADS when a source first imports it; if unpickling the recipe already did, set it directly.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _work(shard: int, out_dir: str) -> tuple[int, int]:
    assert _RECIPE is not None
    return shard, run_shard(_RECIPE, shard, out_dir)


def _submit(pool: ProcessPoolExecutor, shard: int, out: str) -> Future[tuple[int, int]]:
    """``pool.submit`` with SIGINT blocked in this thread meanwhile: a worker the pool spawns now starts with Ctrl-C
    blocked (the mask is inherited through exec) instead of dying with a traceback mid-import, and a Ctrl-C pressed
    meanwhile reaches this process as soon as the mask is restored; the parent handles Ctrl-C."""
    if not hasattr(signal, "pthread_sigmask"):
        return pool.submit(_work, shard, out)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(_work, shard, out)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class LocalBackend:
    """Shards in ``workers`` local processes; a dead worker's shards are retried ``max_retries`` times.

    >>> LocalBackend(workers=2).name
    'local'
    """

    name = "local"

    def __init__(self, workers: int = 1, max_retries: int = 3) -> None:
        self.workers = workers
        self.max_retries = max_retries

    def run(self, recipe: Recipe, shards: Sequence[int], out: str, on_done: OnDone) -> None:
        """Run ``shards``; the first shard error stops the run (pending shards are cancelled) and is raised here."""
        todo = deque(shards)
        if self.workers <= 1 or len(todo) <= 1:
            for s in todo:
                on_done(s, run_shard(recipe, s, out))
            return
        deaths: Counter[int] = Counter()
        while todo:
            lost = self._pool_run(recipe, todo, out, on_done)
            for s in lost:
                deaths[s] += 1
                if deaths[s] > self.max_retries:
                    raise EngineError(f"shard {s}: its worker process died {deaths[s]} times (killed, or out of "
                                      f"memory?); gave up after max_retries={self.max_retries}")
            todo.extendleft(sorted(lost, reverse=True))  # the lost shards go first

    def _pool_run(self, recipe: Recipe, todo: deque[int], out: str, on_done: OnDone) -> list[int]:
        """Run shards from ``todo`` in one pool until done (returns []) or a worker dies (returns the shards that
        were in flight: they are lost and must be run again)."""
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(recipe, 1)) as pool:
            running: dict[Future[tuple[int, int]], int] = {}
            try:
                while todo or running:
                    while todo and len(running) < self.workers:
                        s = todo.popleft()
                        running[_submit(pool, s, out)] = s
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    broken = False
                    for f in sorted(done, key=lambda f: f.exception() is not None):  # successes first
                        if isinstance(f.exception(), BrokenProcessPool):
                            broken = True
                            continue
                        s = running.pop(f)
                        on_done(s, f.result()[1])  # raises the worker's error
                    if broken:
                        return sorted(running.values())
            except BaseException:
                for f in running:
                    f.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return []
