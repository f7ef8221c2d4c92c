"""One training loop for every model the project trains (GANs, inverse and landmark generators, distilled
generators, judges, Smart Augmentation, the downstream protocol's models).

Why one loop: each model used to carry its own ``while`` with its own reading of "``steps`` or ``seconds``", its own
checkpoint format and its own resume rule, and they disagreed (one counted steps per call, another in total; one
checkpointed the optimiser, another did not). Here the model is a ``Trainable`` — it knows how to take *one*
step and how to save and restore everything that step depends on — and the loop owns the rest:

- the budget: ``steps`` is a *total* (a resumed run stops at the same step an unbroken one would), ``seconds``
  is the wall time of this call (a way to slice a long CPU run into sessions);
- checkpoints: ``OUT/checkpoint.pt`` every ``checkpoint_every`` steps and at the end, written atomically (a kill
  during a save leaves the previous one), holding the task's state, the loop's own state (logs, validations, the
  best state so far) and the task's ``fingerprint``; a checkpoint of another configuration is refused by name;
- the log: a row every ``log_every`` steps and at the last step, in memory and in ``OUT/train_log.jsonl``;
- validation and selection: ``validate()`` every ``validate_every`` steps (and at the end), and with ``select``
  the weights of the best validation are kept and restored at the end (ties go to the later validation);
- sample grids: ``sample_grid()`` written as ``OUT/samples/step_XXXXXXX.png`` at every checkpoint;
- data-parallel training under ``torchrun`` (``train.distributed``): process group, averaged gradients, per-rank
  batch slices (tasks with ``set_distributed``), rank-0 checkpoints and logs, every rank resuming from the same one.

Determinism: the loop draws no random numbers; a task that keeps its generators in ``state_dict`` resumes to the
same bits as an unbroken run (tests pin it).

>>> import torch
>>> class Mean:                                    # fits one number to the mean of some data, one step at a time
...     def __init__(self):
...         self.step, self.w = 0, torch.zeros(1, requires_grad=True)
...         self.opt = torch.optim.SGD([self.w], lr=0.5)
...     def train_step(self):
...         loss = (self.w - 3.0).square().sum()
...         self.opt.zero_grad(); loss.backward(); self.opt.step(); self.step += 1
...         return {"loss": loss.detach()}
...     def state_dict(self):
...         return {"step": self.step, "w": self.w.detach().clone(), "opt": self.opt.state_dict()}
...     def load_state_dict(self, st):
...         self.step = st["step"]; self.w.data.copy_(st["w"]); self.opt.load_state_dict(st["opt"])
>>> res = run_training(Mean(), LoopConfig(steps=20, log_every=10))
>>> res.step, [r["step"] for r in res.logs], round(res.logs[-1]["loss"], 6)
(20, [10, 20], 0.0)
"""

from __future__ import annotations

import copy
import json
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from fakevision.core.errors import InputError

CHECKPOINT = "checkpoint.pt"
LOG = "train_log.jsonl"
SAMPLES = "samples"
_FORMAT = 1

Direction = Literal["min", "max"]


@runtime_checkable
class Trainable(Protocol):
    """What the loop drives. ``train_step`` takes one optimiser step, increments ``step`` and returns the step's
    numbers (floats or 0-d tensors; converted only when logged, so a GPU step is not synchronised every time).
    ``state_dict`` returns everything the next step depends on (weights, optimisers, random generators, schedule
    position, ``step``) and ``load_state_dict`` restores it.

    Optional hooks, found by name: ``validate() -> dict[str, float]``; ``sample_grid() -> H x W x 3 uint8``;
    ``fingerprint() -> str`` (identifies the configuration: a checkpoint with another fingerprint is refused);
    ``weights() / load_weights(w)`` (what ``select`` snapshots; default: the whole ``state_dict``)."""

    @property
    def step(self) -> int: ...  # (a plain attribute or a read-only property: the loop only reads it)

    def train_step(self) -> Mapping[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class LoopConfig:
    """How long to train and what to keep.

    ``steps``: total steps to reach (None: no step limit); ``seconds``: wall-time budget of this call (None: no
    limit); at least one must be given. ``out``: folder for checkpoint, log and sample grids (None: keep nothing on
    disk; then ``checkpoint_every`` is ignored). ``validate_first``: also validate before the first step (a
    baseline row at step 0). ``select``: validation metrics that pick the weights kept at the
    end, compared in order (e.g. ``[("val_acc", "max"), ("val_loss", "min")]``); a single pair may be given
    as ``("val_nme", "min")``.
    """

    steps: int | None = None
    seconds: float | None = None
    out: str | Path | None = None
    checkpoint_every: int = 500
    log_every: int = 50
    validate_every: int | None = None
    validate_first: bool = False
    select: tuple[str, Direction] | Sequence[tuple[str, Direction]] | None = None
    resume: bool = True
    restore_best: bool = True

    def __post_init__(self) -> None:
        if self.steps is None and self.seconds is None:
            raise ValueError("give steps or seconds")
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.seconds is not None and self.seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {self.seconds}")
        for name in ("checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.validate_every is not None and self.validate_every < 1:
            raise ValueError(f"validate_every must be >= 1, got {self.validate_every}")
        for key, direction in self.selection:
            if direction not in ("min", "max"):
                raise ValueError(f"select: direction of {key!r} must be 'min' or 'max', got {direction!r}")

    @property
    def selection(self) -> list[tuple[str, Direction]]:
        if self.select is None:
            return []
        if len(self.select) == 2 and isinstance(self.select[0], str):
            return [self.select]  # type: ignore[list-item]
        return [tuple(s) for s in self.select]  # type: ignore[misc]


@dataclass
class TrainResult:
    """What a call of ``run_training`` did: the step reached, the log rows and validations of the whole run (a
    resumed run's include the earlier calls'), the best validation (with its ``step``) when selecting, why it
    stopped (``"steps"`` or ``"seconds"``) and this call's wall time."""

    step: int
    logs: list[dict[str, float]] = field(default_factory=list)
    validations: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] | None = None
    stopped_by: str = "steps"
    seconds: float = 0.0
    resumed_from: int | None = None


def _floats(row: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v.detach() if hasattr(v, "detach") else v) for k, v in row.items()}


def _score(row: Mapping[str, float], selection: list[tuple[str, Direction]]) -> tuple[float, ...]:
    """Bigger is better, lexicographically; a missing or NaN metric scores -inf."""
    out = []
    for key, direction in selection:
        v = float(row.get(key, float("nan")))
        out.append(-float("inf") if np.isnan(v) else (v if direction == "max" else -v))
    return tuple(out)


def _fingerprint(task: Trainable) -> str | None:
    fp = getattr(task, "fingerprint", None)
    return str(fp()) if callable(fp) else None


def _weights(task: Trainable) -> Any:
    get = getattr(task, "weights", None)
    return copy.deepcopy(get() if callable(get) else task.state_dict())


def _load_weights(task: Trainable, w: Any) -> None:
    put = getattr(task, "load_weights", None)
    if callable(put):
        put(w)
    else:
        task.load_state_dict(copy.deepcopy(w))


class _Run:
    """The loop's own state (what a checkpoint adds to the task's)."""

    def __init__(self, task: Trainable, cfg: LoopConfig, writer: bool = True) -> None:
        self.task, self.cfg = task, cfg
        self.writer = writer  # False on ranks other than 0: they keep the same state but write nothing
        self.out = None if cfg.out is None else Path(cfg.out)
        self.logs: list[dict[str, float]] = []
        self.validations: list[dict[str, float]] = []
        self.best: dict[str, float] | None = None
        self.best_weights: Any = None
        self.selection = cfg.selection

    # -- checkpoints -------------------------------------------------------------------------------------------
    def save(self) -> None:
        import torch

        from fakevision.io.atomic import atomic_path, atomic_write_bytes

        assert self.out is not None
        if not self.writer:
            return
        state = {"format": _FORMAT, "fingerprint": _fingerprint(self.task), "task": self.task.state_dict(),
                 "loop": {"logs": self.logs, "validations": self.validations, "best": self.best,
                          "best_weights": self.best_weights}}
        with atomic_path(self.out / CHECKPOINT) as tmp:
            torch.save(state, tmp)
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.logs)
        atomic_write_bytes(self.out / LOG, text.encode())
        grid = getattr(self.task, "sample_grid", None)
        if callable(grid):
            img = grid()
            if img is not None:
                from fakevision.io.images import encode_image

                atomic_write_bytes(self.out / SAMPLES / f"step_{self.task.step:07d}.png", encode_image(img))

    def load(self) -> bool:
        import torch

        assert self.out is not None
        path = self.out / CHECKPOINT
        if not path.is_file():
            return False
        try:
            st = torch.load(path, map_location="cpu", weights_only=False)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
            raise InputError(f"cannot read checkpoint ({e})", path) from None
        if not isinstance(st, dict) or st.get("format") != _FORMAT or "task" not in st:
            raise InputError("not a fakevision training checkpoint (or one of an older format); delete it or use "
                             "another output folder", path)
        mine = _fingerprint(self.task)
        if st.get("fingerprint") != mine:
            raise InputError("checkpoint was made with a different configuration; delete it, use another output "
                             "folder, or train with the settings that made it", path)
        self.task.load_state_dict(st["task"])
        loop = st["loop"]
        self.logs, self.validations = list(loop["logs"]), list(loop["validations"])
        self.best, self.best_weights = loop["best"], loop["best_weights"]
        return True

    # -- the steps ---------------------------------------------------------------------------------------------
    def validate(self) -> None:
        fn = getattr(self.task, "validate", None)
        if not callable(fn):
            return
        if self.validations and self.validations[-1]["step"] == self.task.step:
            return
        row = {**_floats(fn()), "step": self.task.step}
        self.validations.append(row)
        if self.selection and (self.best is None or _score(row, self.selection) >= _score(self.best,
                                                                                          self.selection)):
            self.best, self.best_weights = row, _weights(self.task)


def run_training(task: Trainable, cfg: LoopConfig,
                 on_log: Callable[[dict[str, float]], None] | None = None) -> TrainResult:
    """Train ``task`` within ``cfg``'s budget (see the module docstring); returns a ``TrainResult``.

    With ``cfg.out`` and ``cfg.resume``, a checkpoint found there is restored first. With ``cfg.select`` and
    ``cfg.restore_best``, the task ends holding the weights of its best validation."""
    from fakevision.train.distributed import GradientSync, context

    ctx = context()
    sync: GradientSync | None = None
    if ctx.active:
        hook = getattr(task, "set_distributed", None)
        if callable(hook):
            hook(ctx.rank, ctx.world)
        sync = GradientSync(task, ctx)
    if not ctx.is_main:
        on_log = None  # one console, one log: rank 0's
    run = _Run(task, cfg, ctx.is_main)
    resumed_from = None
    if run.out is not None:
        if ctx.is_main:
            run.out.mkdir(parents=True, exist_ok=True)
        ctx.barrier()
        if cfg.resume and run.load():
            resumed_from = task.step
        ctx.barrier()
    if sync is not None:
        sync.broadcast_parameters()
    try:
        return _loop(task, cfg, run, ctx, sync, resumed_from, on_log)
    finally:
        if sync is not None:
            sync.close()


def _loop(task: Trainable, cfg: LoopConfig, run: _Run, ctx: Any, sync: Any, resumed_from: int | None,
          on_log: Callable[[dict[str, float]], None] | None) -> TrainResult:
    if cfg.validate_first and not run.validations:
        run.validate()
    t0 = time.perf_counter()
    stopped_by = "steps"
    last_saved = task.step if resumed_from is not None else None
    row: Mapping[str, Any] | None = None
    while cfg.steps is None or task.step < cfg.steps:
        # every rank must stop at the same step (a rank left behind would wait in an all-reduce forever)
        if cfg.seconds is not None and ctx.any(time.perf_counter() - t0 >= cfg.seconds):
            stopped_by = "seconds"
            break
        before = task.step
        row = task.train_step()
        if task.step != before + 1:
            raise RuntimeError(f"{type(task).__name__}.train_step must advance step by one ({before} -> {task.step})")
        if sync is not None:
            sync.broadcast_buffers()
        at_end = cfg.steps is not None and task.step == cfg.steps
        if task.step % cfg.log_every == 0 or at_end:
            logged = {**_floats(row), "step": task.step}
            run.logs.append(logged)
            if on_log is not None:
                on_log(logged)
        if cfg.validate_every is not None and task.step % cfg.validate_every == 0:
            run.validate()
        if run.out is not None and task.step % cfg.checkpoint_every == 0 and not at_end:
            run.save()
            ctx.barrier()
            last_saved = task.step
    if row is not None and (not run.logs or run.logs[-1]["step"] != task.step):
        logged = {**_floats(row), "step": task.step}
        run.logs.append(logged)
        if on_log is not None:
            on_log(logged)
    if cfg.validate_every is not None or run.selection:
        run.validate()
    if run.out is not None and last_saved != task.step:
        run.save()
        ctx.barrier()
    if run.selection and cfg.restore_best and run.best_weights is not None:
        _load_weights(task, run.best_weights)
    return TrainResult(step=task.step, logs=run.logs, validations=run.validations, best=run.best,
                       stopped_by=stopped_by, seconds=time.perf_counter() - t0, resumed_from=resumed_from)
