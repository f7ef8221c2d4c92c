"""One training run of a dense model (landmarks, segmentation) as a ``Trainable``: cached arrays in, the weights
that were best on the real validation split out.

Why this shape: a table is ~100 short runs on a shared 2-core CPU, so a run must not spend its time in Python.
Images are decoded once (``ArraySet``) and live here as one uint8 tensor; a step indexes a batch out of it, converts
to float channels-last and trains; there is no DataLoader and no per-sample Python. Augmentation (the project's own
exact ops, ``fakevision.augment``) is applied once per run to a pool of training samples drawn at random (``aug_pool``
samples, each a fresh draw of the preset), because running the ops on every sample of every step would cost more than
the model; the pool is the training set of an augmented run.

The class is a ``Trainable`` of the project's one training loop (``fakevision.train.loop``: ``step``, ``train_step``,
``validate``, ``state_dict``/``load_state_dict``, ``weights``/``load_weights``, ``fingerprint``, ``sample_grid``);
``fit_dense`` runs it with ``run_training``: a fixed number of steps, validation every ``validate_every`` steps and at
the end, the weights of the best validation kept (ties: the later step), the test split touched once with them.

What a task supplies is a ``DenseSpec``: the model, the loss, how targets become tensors and predictions become
targets again, its metrics, and how a sample round-trips through ``fakevision.core.Sample`` for augmentation.

>>> import numpy as np
>>> from fakevision.evaluate.landmarks import LandmarkTask
>>> task = LandmarkTask(steps=4, validate_every=2, batch_size=4)
>>> from fakevision.evaluate.landmarks import toy_faces
>>> data = toy_faces(12, size=32)
>>> r = task.fit(data.subset(range(8)), data.subset([]), data.subset([8, 9]), data.subset([10, 11]), seed=0)
>>> r["best_step"] in (2, 4), sorted(r["test"])
(True, ['auc08', 'fr10', 'nme'])
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, cast

import numpy as np
import torch
from torch import nn

from fakevision.core.sample import Sample
from fakevision.evaluate.task import ArraySet, draw_without_replacement
from fakevision.train.loop import LoopConfig, run_training


@dataclass(frozen=True)
class FitConfig:
    """The schedule of one run: Adam(W) with ``lr`` and cosine decay to 0 over ``steps`` steps of ``batch_size``;
    validation every ``validate_every`` steps; ``augment`` what ``augment_op`` builds (a preset name of
    ``fakevision.augment``, or a list of op configs and ``{preset: name}`` items; None: none) applied to a pool of
    ``aug_pool`` samples; ``threads``: torch threads while training (0: leave as is)."""

    steps: int = 1500
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    validate_every: int = 100
    augment: str | list[Any] | None = None
    aug_pool: int = 8192
    device: str = "cpu"
    threads: int = 0


class DenseSpec(Protocol):
    """What a dense task tells the trainer (see ``LandmarkTask`` and ``SegmentationTask``)."""

    @property
    def select(self) -> tuple[str, str]: ...  # (metric name, "min" | "max") the validation split selects by

    def build_model(self, in_channels: int, height: int, width: int) -> nn.Module: ...

    def target_tensor(self, targets: np.ndarray, height: int, width: int) -> torch.Tensor: ...

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...

    def decode(self, out: torch.Tensor, height: int, width: int) -> np.ndarray: ...

    def score(self, pred: np.ndarray, targets: np.ndarray) -> dict[str, float]: ...

    def to_sample(self, image: np.ndarray, target: np.ndarray) -> Sample: ...

    def from_sample(self, sample: Sample, height: int, width: int, fallback: tuple[np.ndarray, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray]: ...

    def draw(self, image: np.ndarray, pred: np.ndarray) -> np.ndarray: ...


def images_tensor(images: np.ndarray) -> torch.Tensor:
    """N x H x W x C uint8 -> N x C x H x W uint8 tensor (a view of the same memory layout as channels-last)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)


def as_input(x_u8: torch.Tensor, device: str) -> torch.Tensor:
    """A uint8 batch (N x C x H x W) as float in [-1, 1], channels-last (faster convolutions on the CPU)."""
    return x_u8.to(device).float().div_(127.5).sub_(1.0).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict(spec: DenseSpec, model: nn.Module, images: np.ndarray, device: str = "cpu",
            batch_size: int = 128) -> np.ndarray:
    """Predictions (in target units) of ``model`` in eval mode for N x H x W x C uint8 images."""
    model.eval()
    h, w = images.shape[1:3]
    x = images_tensor(images)
    outs = [spec.decode(model(as_input(x[s : s + batch_size], device)), h, w) for s in range(0, len(x), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,))


def augment_op(augment: str | list[Any]) -> Any:
    """The augmentation of a run: a preset by name, or a list of op configs (``fakevision.augment.config``) where an
    item ``{preset: name}`` stands for that preset -- e.g. the face preset followed by one more op -- run in order.

    >>> augment_op("face").__class__.__name__
    'Compose'
    >>> [type(o).__name__ for o in augment_op([{"preset": "face"}, {"op": "LandmarkWarp", "p": 0.5}]).ops]
    ['Compose', 'LandmarkWarp']
    """
    from fakevision.augment.compose import Compose
    from fakevision.augment.config import build_op
    from fakevision.augment.presets import get_preset

    if isinstance(augment, str):
        return get_preset(augment)
    ops = []
    for i, item in enumerate(augment):
        if isinstance(item, dict) and set(item) == {"preset"}:
            ops.append(get_preset(str(item["preset"])))
        else:
            ops.append(build_op(item, f"augment.{i}"))
    return Compose(ops)


def augment_pool(spec: DenseSpec, data: ArraySet, augment: str | list[Any], n: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples drawn uniformly from ``data``, each through a fresh draw of ``augment`` (``augment_op``; every
    annotation moves with the pixels); the result is resized back to the set's image size when an op changed it."""
    op = augment_op(augment)
    h, w = data.images.shape[1:3]
    pick = rng.integers(0, len(data), n)
    imgs, tgts = [], []
    for i in pick:
        s = spec.to_sample(data.images[i], data.targets[i])
        out = op(s, rng)
        im, t = spec.from_sample(out, h, w, (data.images[i], data.targets[i]))
        imgs.append(im)
        tgts.append(t)
    return np.stack(imgs), np.stack(tgts)


class DenseTrainable:
    """One model trained from scratch on ``train`` (real and fake already combined), validated on ``val``.

    The ``Trainable`` of ``fakevision.train.loop``: ``step``, ``train_step()``, ``validate()``, ``state_dict()``,
    ``load_state_dict()``, ``fingerprint()``, ``sample_grid()``.
    """

    def __init__(self, spec: DenseSpec, train: ArraySet, val: ArraySet, cfg: FitConfig, seed: int) -> None:
        self.spec, self.cfg, self.seed, self.step = spec, cfg, int(seed), 0
        self.device = cfg.device
        torch.manual_seed(seed)
        self.gen = torch.Generator().manual_seed(seed)
        if len(train) == 0:
            raise ValueError("empty training set")
        h, w, c = train.images.shape[1:]
        self.hw = (h, w)
        images, targets = train.images, train.targets
        if cfg.augment:
            images, targets = augment_pool(spec, train, cfg.augment, cfg.aug_pool,
                                           np.random.default_rng([seed, 31337]))
        self.x = images_tensor(images).to(self.device)
        self.y = spec.target_tensor(targets, h, w).to(self.device)
        self.val = val
        self.model = spec.build_model(c, h, w).to(self.device)
        self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack it
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=max(1, cfg.steps))
        self._order = torch.zeros(0, dtype=torch.long)
        self._pos = 0

    def _batch_index(self) -> torch.Tensor:
        bs = min(self.cfg.batch_size, len(self.x))
        if self._pos + bs > len(self._order):  # a new epoch: a fresh permutation
            self._order = torch.randperm(len(self.x), generator=self.gen)
            self._pos = 0
        idx = self._order[self._pos : self._pos + bs]
        self._pos += bs
        return idx

    def train_step(self) -> dict[str, float]:
        self.model.train()
        idx = self._batch_index().to(self.device)
        out = self.model(as_input(self.x[idx], self.device))
        loss = self.spec.loss(out, self.y[idx])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.step += 1
        return {"loss": float(loss.detach()), "lr": float(self.sched.get_last_lr()[0])}

    def validate(self) -> dict[str, float]:
        pred = predict(self.spec, self.model, self.val.images, self.device)
        return self.spec.score(pred, self.val.targets)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                "step": self.step, "gen": self.gen.get_state(), "order": self._order, "pos": self._pos}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.model.load_state_dict(d["model"])
        self.opt.load_state_dict(d["opt"])
        self.sched.load_state_dict(d["sched"])
        self.step, self._order, self._pos = int(d["step"]), d["order"], int(d["pos"])
        self.gen.set_state(d["gen"])

    def weights(self) -> dict[str, Any]:
        """What the loop's selection keeps: the model's weights (not the optimiser)."""
        return copy.deepcopy(self.model.state_dict())

    def load_weights(self, w: dict[str, Any]) -> None:
        self.model.load_state_dict(w)

    def fingerprint(self) -> str:
        """What makes two runs the same run: the spec's class and settings, the schedule, the seed, the data."""
        h = hashlib.sha256()
        h.update(repr((type(self.spec).__name__, getattr(self.spec, "describe", lambda: {})(), asdict(self.cfg),
                       self.seed)).encode())
        h.update(self.x.cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    def sample_grid(self) -> np.ndarray:
        """Up to 8 validation images with the current predictions drawn (``DenseSpec.draw``), as one H x W x 3."""
        k = min(8, len(self.val))
        pred = predict(self.spec, self.model, self.val.images[:k], self.device)
        draw: Callable[[np.ndarray, np.ndarray], np.ndarray] = self.spec.draw
        tiles = [draw(self.val.images[i], pred[i]) for i in range(k)]
        return np.concatenate(tiles, axis=1) if tiles else np.zeros((1, 1, 3), np.uint8)


def fit_dense(spec: DenseSpec, train: ArraySet, val: ArraySet, test: ArraySet, cfg: FitConfig, seed: int
              ) -> dict[str, Any]:
    """Train on ``train``, select on ``val``, score ``test`` once: ``{"test": metrics, "val", "best_step",
    "wall_s", "history", "model"}``."""
    t0 = time.perf_counter()
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        trainable = DenseTrainable(spec, train, val, cfg, seed)
        select = cast(tuple[str, Literal["min", "max"]], spec.select)
        res = run_training(trainable, LoopConfig(steps=cfg.steps, validate_every=cfg.validate_every,
                                                 log_every=cfg.validate_every, select=select))
        pred = predict(spec, trainable.model, test.images, cfg.device)
        test_metrics = spec.score(pred, test.targets)
    finally:
        if cfg.threads:
            torch.set_num_threads(old_threads)
    assert res.best is not None
    return {"test": test_metrics, "val": res.best[spec.select[0]], "best_step": int(res.best["step"]),
            "history": res.validations, "wall_s": time.perf_counter() - t0, "model": trainable.model}


class DenseTask:
    """The protocol side every dense task shares (landmarks, segmentation): fake and real training subsets drawn
    without replacement, and one training run of the task's ``DenseSpec`` on real + fake through ``fit_dense``.
    Subclasses are ``DenseSpec``s with a ``cfg: FitConfig``."""

    cfg: FitConfig

    def draw_fake(self, fake: ArraySet, n: int, rng: np.random.Generator) -> np.ndarray:
        return draw_without_replacement(len(fake), n, rng, "fake", fake.name or None)

    def subsample(self, train: ArraySet, n: int, rng: np.random.Generator) -> np.ndarray:
        return draw_without_replacement(len(train), n, rng, "real training", train.name or None)

    def fit(self, real_train: ArraySet, fake_train: ArraySet, val: ArraySet, test: ArraySet, seed: int
            ) -> dict[str, Any]:
        r = fit_dense(cast(DenseSpec, self), ArraySet.concat([real_train, fake_train]), val, test, self.cfg, seed)
        return {k: r[k] for k in ("test", "val", "best_step", "wall_s")}
