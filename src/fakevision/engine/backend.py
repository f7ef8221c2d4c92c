"""Where shards run: one small interface, two backends.

A backend gets a recipe, the shards still to make and the output location, calls ``shard.run_shard`` for each
shard *somewhere* (this process, local worker processes, Ray tasks on a cluster) and reports every finished shard
back to the caller as ``on_done(shard, samples)``, in this process, in the order shards finish. That is all a
backend decides: what a shard writes is a pure function of (recipe, shard index), so every backend, any number of
workers, retries of a dead worker and resumed runs all give the same bytes. Backends never move samples: workers
write their shard to the output storage themselves and only ``(shard, count)`` comes back.

Rules every backend keeps: a shard's error stops the run and is raised here (fakevision's own errors unchanged,
so the CLI prints one line); a shard whose worker *died* (killed, out of memory, lost node) is run again, up to
``max_retries`` times, then ``EngineError`` names it; on ``KeyboardInterrupt`` (Ctrl-C) the shards in flight are
stopped and no worker writes after ``run`` returns, so the next ``make`` resumes from the done markers.

>>> get_backend("local", workers=2).name
'local'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from fakevision.core.errors import EngineError
from fakevision.engine.recipe import Recipe

OnDone = Callable[[int, int], None]  # (shard index, samples in it), called as each shard finishes
ENGINES: tuple[str, ...] = ("local", "ray")
DEFAULT_MAX_RETRIES = 3


@runtime_checkable
class Backend(Protocol):
    """Runs ``run_shard(recipe, s, out)`` for every ``s`` in ``shards`` and calls ``on_done`` as each finishes."""

    name: str

    def run(self, recipe: Recipe, shards: Sequence[int], out: str, on_done: OnDone) -> None: ...


def get_backend(
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> Backend:
    """The backend called ``engine``.

    ``workers``: local processes (default 1) or, for Ray, shards in flight at once (default: one per CPU of the
    local runtime or the cluster). ``address``: Ray only; None starts a local Ray runtime for this run, ``auto``
    joins the cluster running on this machine, ``ray://host:10001`` a remote one (Ray Client).
    """
    if workers is not None and workers < 1:
        raise EngineError(f"workers must be >= 1, got {workers}")
    if max_retries < 0:
        raise EngineError(f"max_retries must be >= 0, got {max_retries}")
    if engine == "local":
        if address is not None:
            raise EngineError("--address applies to --engine ray only")
        from fakevision.engine.local import LocalBackend

        return LocalBackend(workers or 1, max_retries)
    if engine == "ray":
        from fakevision.engine.ray_backend import RayBackend

        return RayBackend(workers, address, max_retries)
    raise EngineError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
