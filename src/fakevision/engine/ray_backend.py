"""The Ray backend (``--engine ray``): one Ray task per shard, on a local Ray runtime or a cluster.

Why Ray and nothing home-made: users who outgrow one machine already run Ray clusters (autoscaling, node
failures, dashboards); a shard being a pure function of (recipe, shard index) is all that is needed to map it onto
Ray tasks. What this module adds is only the policy:

* **Where**: ``address=None`` starts a private local runtime for the run (``num_cpus`` = ``workers`` or every CPU,
  a 75 MiB object store since nothing big goes through it) and stops it afterwards; ``auto`` or ``host:port``
  joins a running cluster, ``ray://host:10001`` joins one through Ray Client. Every node needs fakevision
  installed and must reach the output (an object-storage URL, or a file system mounted at the same path).
* **No data through the object store**: the recipe is put once (a few KiB); each task writes its shard to the
  output itself and returns the sample count.
* **Dead workers**: a task whose worker process or node dies is retried by Ray (``max_retries``); a task that
  *raises* is not (a deterministic error would only fail again) and the error comes back unwrapped, so
  fakevision's own errors still print as one line naming the shard.
* **Ctrl-C**: no new shard starts and the shards in flight finish (seconds) before ``run`` returns, so nothing
  writes afterwards; a second Ctrl-C kills them at once (writes are atomic: nothing half-written is visible). The
  next ``make`` resumes from the done markers.
* **Progress**: ``on_done`` is called as each task finishes (``ray.wait``), which feeds the progress bar.

A local runtime's workers get this process's ``sys.path`` (as ``multiprocessing``'s spawned workers do), so a
source registered by a module on that path works with either engine.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from fakevision.core.errors import EngineError, FakevisionError
from fakevision.engine.backend import OnDone
from fakevision.engine.recipe import Recipe
from fakevision.engine.shard import run_shard

INSTALL_HINT = "pip install 'fakevision[ray]'"
OBJECT_STORE_BYTES = 75 * 1024 * 1024  # Ray's minimum; shards never travel through it
KILL_WAIT_S = 120.0


def import_ray() -> Any:
    """The ``ray`` module, or ``EngineError`` with the install command when the extra is missing."""
    try:
        import ray
    except ImportError:
        raise EngineError(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def ray_shard_task(recipe: Recipe, shard: int, out: str) -> int:
    """The body of one Ray task: make and write ``shard``, return its sample count (the only thing sent back)."""
    return run_shard(recipe, shard, out)


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for the duration (a local Ray runtime's processes inherit them at start)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _python_path() -> str:
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    return os.pathsep.join(dict.fromkeys(paths))


class RayBackend:
    """Shards as Ray tasks; see the module docstring.

    >>> RayBackend(workers=2).name
    'ray'
    """

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, max_retries: int = 3) -> None:
        self.workers = workers
        self.address = address
        self.max_retries = max_retries

    def _connect(self, ray: Any) -> bool:
        """Start or join a runtime; True when this call started it (and so must stop it)."""
        if ray.is_initialized():  # the caller's own session (e.g. a notebook already connected to a cluster)
            return False
        common = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
                  "configure_logging": True}
        try:
            if self.address is None:
                with _env(PYTHONPATH=_python_path()):
                    # address="local": always a new runtime, never a cluster someone else started on this machine
                    ray.init(address="local", num_cpus=self.workers or os.cpu_count() or 1,
                             object_store_memory=OBJECT_STORE_BYTES, **common)
            else:
                common.pop("include_dashboard")
                ray.init(address=self.address, **common)
        except Exception as e:  # Ray raises bare Exception too (e.g. "node timed out during startup" under load)
            where = "a local Ray runtime" if self.address is None else f"the Ray cluster at {self.address!r}"
            raise EngineError(f"cannot start or join {where}: {str(e).splitlines()[0] if str(e) else e}") from None
        return True

    def run(self, recipe: Recipe, shards: Sequence[int], out: str, on_done: OnDone) -> None:
        """Run ``shards`` as Ray tasks; the first task error stops the run and is raised here."""
        todo = deque(shards)
        if not todo:
            return
        ray = import_ray()
        started = self._connect(ray)
        try:
            task = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(ray_shard_task)
            recipe_ref = ray.put(recipe)
            limit = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            running: dict[Any, int] = {}
            try:
                while todo or running:
                    while todo and len(running) < limit:
                        s = todo.popleft()
                        running[task.remote(recipe_ref, s, out)] = s
                    ready, _ = ray.wait(list(running), num_returns=1)
                    for ref in ready:
                        s = running.pop(ref)
                        on_done(s, self._result(ray, ref, s))
            except BaseException:
                self._stop(ray, list(running))
                raise
        finally:
            if started:
                ray.shutdown()

    @staticmethod
    def _stop(ray: Any, refs: list[Any]) -> None:
        """After Ctrl-C or a shard's error: no new shard starts, and the shards in flight are waited for (seconds:
        one shard each), so nothing writes after ``run`` returns. A second Ctrl-C stops them at once by killing
        their workers (writes are atomic, so nothing half-written is visible). Why not cancel right away: Ray
        2.60's driver aborts ("Tried to complete task that was not pending") when a cancel races a task that is
        finishing, which a busy machine hit in our tests."""
        if not refs:
            return
        try:
            ray.wait(refs, num_returns=len(refs))
        except KeyboardInterrupt:
            for ref in refs:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            ray.wait(refs, num_returns=len(refs), timeout=KILL_WAIT_S)
            raise

    def _result(self, ray: Any, ref: Any, shard: int) -> int:
        try:
            return int(ray.get(ref))
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, FakevisionError):
                raise cause from None
            raise e.as_instanceof_cause() from None
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as e:
            raise EngineError(f"shard {shard}: its Ray worker died {self.max_retries + 1} times (killed, out of "
                              f"memory, or a lost node?); gave up after max_retries={self.max_retries} "
                              f"({type(e).__name__})") from None
