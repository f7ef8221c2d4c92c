"""Data-parallel training for every ``Trainable``: ``torchrun --nproc-per-node N -m fakevision train ...``.

Why here and not in each model: the training loop (``train.loop.run_training``) drives every model the project
trains, so it sets up ``torch.distributed`` once (from torchrun's ``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` variables;
gloo on CPU, NCCL on GPU) and every model gets:

* **the same start**: after a resume, every parameter and buffer is broadcast from rank 0 (as DDP does when it
  wraps a model), so all ranks hold the same weights;
* **averaged gradients**: a pre-step hook on each of the task's optimisers all-reduces the gradients of its
  parameters (one flat all-reduce per optimiser step) before it steps, which is what DDP's bucketed all-reduce
  computes. Hooks on the optimisers instead of ``DistributedDataParallel`` wrappers because a ``Trainable`` calls
  its modules' own methods (``G.generate``, ``D.encode``, losses through frozen judges), which DDP's forward
  wrapper does not see; the result is the same update. Buffers (BatchNorm statistics) follow rank 0 after every
  step, as DDP's ``broadcast_buffers``;
* **its share of the data**: a task with ``set_distributed(rank, world)`` draws the *global* batch from its
  generator as a single process would and keeps ``rank_slice`` of it (per-rank batch slicing); the averaged
  gradient then equals the single-process one (exactly so when the batch divides by the world size), so results
  match one process within float tolerance and hyper-parameters keep their meaning. A task without the hook trains
  every rank on the same batch: correct, but no faster;
* **one writer**: rank 0 writes checkpoints, logs and sample grids; every rank resumes from the same checkpoint
  (barriers around saving and loading), and stopping on ``seconds`` is agreed by all ranks (otherwise one rank
  would wait forever in an all-reduce).

Outside torchrun (``WORLD_SIZE`` unset or 1) nothing here does anything.

>>> ctx = DistContext()                         # a single process
>>> ctx.world, ctx.rank, ctx.is_main, ctx.rank_slice(10)
(1, 0, True, slice(0, 10, 1))
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

_INITIALISED_HERE = False


@dataclass(frozen=True)
class DistContext:
    """Which rank of how many this process is (``world`` 1: not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rank_slice(self, n: int) -> slice:
        """This rank's part of a batch of ``n``: every ``world``-th item from ``rank`` (sizes differ by at most one).

        >>> [DistContext(r, 3).rank_slice(8) for r in range(3)]
        [slice(0, 8, 3), slice(1, 8, 3), slice(2, 8, 3)]
        """
        return slice(self.rank, n, self.world)

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def all_mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean of ``t`` over the ranks (a new tensor; ``t`` itself when not distributed)."""
        if not self.active:
            return t
        out = t.detach().clone()
        torch.distributed.all_reduce(out)
        return out / self.world

    def any(self, flag: bool, device: torch.device | str = "cpu") -> bool:
        """True on every rank when ``flag`` is True on any rank."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item() > 0)


def context() -> DistContext:
    """This process's rank and world: from an initialised process group, else from torchrun's variables (and then
    the group is initialised here: gloo, or NCCL when CUDA is available), else a single process."""
    global _INITIALISED_HERE
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return DistContext()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    _INITIALISED_HERE = True
    return DistContext(dist.get_rank(), dist.get_world_size())


def _members(task: Any) -> Iterator[Any]:
    """The task's attributes, one level into dicts, lists and tuples (where trainers keep nets and optimisers)."""
    for v in vars(task).values():
        if isinstance(v, dict):
            yield from v.values()
        elif isinstance(v, list | tuple):
            yield from v
        else:
            yield v


def task_optimizers(task: Any) -> list[torch.optim.Optimizer]:
    return list(dict.fromkeys(v for v in _members(task) if isinstance(v, torch.optim.Optimizer)))


def task_modules(task: Any) -> list[nn.Module]:
    return list(dict.fromkeys(v for v in _members(task) if isinstance(v, nn.Module)))


class GradientSync:
    """Averages a task's gradients over the ranks before each optimiser step, and keeps its parameters and buffers
    equal to rank 0's (see the module docstring). ``close()`` removes the hooks."""

    def __init__(self, task: Any, ctx: DistContext) -> None:
        self.ctx = ctx
        self.modules = task_modules(task)
        self.handles = [opt.register_step_pre_hook(self._before_step) for opt in task_optimizers(task)]
        if not self.handles:
            raise ValueError(f"{type(task).__name__}: no torch optimiser among its attributes, so its gradients "
                             "cannot be averaged over ranks")

    def _before_step(self, opt: torch.optim.Optimizer, *_: Any) -> None:
        params = [p for g in opt.param_groups for p in g["params"]]
        if not params:
            return
        dev = params[0].device
        has = torch.tensor([0.0 if p.grad is None else 1.0 for p in params], device=dev)
        torch.distributed.all_reduce(has, op=torch.distributed.ReduceOp.MAX)  # a grad on any rank: all take part
        live = [p for p, h in zip(params, has.tolist(), strict=True) if h > 0]
        for p in live:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if not live:
            return
        flat = torch.cat([p.grad.reshape(-1) for p in live])
        torch.distributed.all_reduce(flat)
        flat /= self.ctx.world
        offset = 0
        for p in live:
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n

    def broadcast_parameters(self) -> None:
        """Every parameter and buffer from rank 0 (the start of training, and after a resume)."""
        with torch.no_grad():
            for m in self.modules:
                for t in list(m.parameters()) + list(m.buffers()):
                    torch.distributed.broadcast(t.data, 0)

    def broadcast_buffers(self) -> None:
        with torch.no_grad():
            for m in self.modules:
                for b in m.buffers():
                    torch.distributed.broadcast(b.data, 0)

    def close(self) -> None:
        for h in self.handles:
            h.remove()
