"""BEGAN training (Berthelot, Schumm, Metz 2017), with the VAC+GAN / VAR+GAN auxiliary-network variants.

The discriminator is an auto-encoder and L(v) = mean |v - D(v)| (pixel-wise L1). Per step t:

    L_D = L(x) - k_t * L(G(z))          L_G = L(G(z))
    k_{t+1} = clip(k_t + lambda_k * (gamma * L(x) - L(G(z))), 0, 1)
    M = L(x) + |gamma * L(x) - L(G(z))|  (convergence measure, logged)

G and D update simultaneously from one forward of D on the real and one on the fake batch: the fake loss is
back-propagated once into both nets, D's share is scaled by -k_t, then the real loss adds D's own term. That is
the same gradient as two separate updates, at two D forwards per step instead of three.

Conditional variants (``BEGANConfig.cond``): "class" is VAC+GAN (arXiv 1806.07751): G(z, one-hot c), and an
auxiliary classifier A beside D learns c from real labelled images (and from fakes with the class they were asked
for); G pays lambda_aux * CE(A(G(z, c)), c). "regress" is VAR+GAN (arXiv 1805.10864): the same with a regressor and
an L1 loss on continuous conditions (e.g. a head-yaw proxy computed from landmarks).

``BEGANTrainer`` is a ``fakevision.train.loop.Trainable``: the loop owns the budget, checkpoints, logs and sample
grids. All state that decides the next step (nets, optimisers, k, step, the random generator) is in
``state_dict``, so a resumed run continues exactly as an uninterrupted one would (tested on CPU).

>>> import numpy as np
>>> cfg = BEGANConfig(size=16, z_dim=8, h_dim=8, n_gen=8, n_enc=8, batch=4)
>>> tr = BEGANTrainer(cfg, np.zeros((8, 16, 16, 3), np.uint8))
>>> from fakevision.train import LoopConfig, run_training
>>> res = run_training(tr, LoopConfig(steps=2))         # the project's one loop: budget, checkpoints, logs
>>> tr.step, sorted(res.logs[-1])
(2, ['M', 'k', 'loss_fake', 'loss_real', 'step'])
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakevision.gan.data import to_unit_range
from fakevision.gan.nets import AutoEncoder, ConditionalDecoder, Decoder, Encoder, default_widths, num_scales
from fakevision.train.distributed import DistContext


@dataclass
class BEGANConfig:
    """One experiment (StudioGAN-style: the config is the experiment, the code is generic).

    ``n_gen``: decoder width (G and D's decoder) at scales below 64x64, halved above; ``n_enc``: encoder width at
    full resolution, growing n, 2n, 3n, ... towards 8x8 as in the paper. ``gamma``: diversity ratio
    E[L(G(z))] / E[L(x)] that k_t steers to; ``lambda_k``: k's learning rate. ``cond``: "none", "class" (VAC+GAN,
    ``num_classes``) or "regress" (VAR+GAN, ``cond_dim`` targets; ``cond_flip_sign`` says how a horizontal flip
    changes each target, e.g. -1 for yaw). ``lr_milestones``: steps at which every learning rate halves.
    ``keep_diverse`` (0: off): the mode-collapse guard — at each validation (``train_began``: every checkpoint) the
    diversity of G's samples relative to real faces' is measured, and G's weights are kept from the last one whose
    diversity is at least ``keep_diverse`` times the best so far (BEGAN on ~1,200 faces collapsed to one face
    after ~8k steps in the first GPU run while k fell to 0; the shipped G was kept this way at 0.75).
    """

    size: int = 64
    z_dim: int = 64
    h_dim: int = 64
    n_gen: int = 64
    n_enc: int = 32
    batch: int = 16
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    gamma: float = 0.5
    lambda_k: float = 1e-3
    k0: float = 0.0
    flip: bool = True
    seed: int = 0
    cond: Literal["none", "class", "regress"] = "none"
    num_classes: int = 2
    cond_dim: int = 1
    cond_flip_sign: tuple[float, ...] = (1.0,)
    lambda_aux: float = 0.1
    aux_fake_weight: float = 1.0
    n_aux: int = 16
    log_every: int = 50
    lr_milestones: tuple[int, ...] = ()
    keep_diverse: float = 0.0

    def __post_init__(self) -> None:
        num_scales(self.size)
        if self.cond not in ("none", "class", "regress"):
            raise ValueError(f"cond must be none/class/regress, got {self.cond!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if not 0.0 <= self.keep_diverse <= 1.0:
            raise ValueError(f"keep_diverse must be in [0, 1], got {self.keep_diverse}")
        self.cond_flip_sign = tuple(float(s) for s in self.cond_flip_sign)
        self.lr_milestones = tuple(sorted(int(m) for m in self.lr_milestones))

    @property
    def gen_widths(self) -> tuple[int, ...]:
        return default_widths(self.size, self.n_gen)

    @property
    def enc_widths(self) -> tuple[int, ...]:
        return tuple(self.n_enc * (i + 1) for i in range(num_scales(self.size)))

    @property
    def aux_widths(self) -> tuple[int, ...]:
        return tuple(self.n_aux * min(i + 1, 4) for i in range(num_scales(self.size)))

    @property
    def cond_width(self) -> int:
        return {"none": 0, "class": self.num_classes, "regress": self.cond_dim}[self.cond]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BEGANConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        for key in ("cond_flip_sign", "lr_milestones"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


_T = TypeVar("_T", torch.Tensor, float)  # the BEGAN formulas run on tensors (training) and floats (examples)


def update_k(k: _T, loss_real: _T, loss_fake: _T, gamma: float, lambda_k: float) -> _T:
    """k_{t+1} = clip(k_t + lambda_k * (gamma * L(x) - L(G(z))), 0, 1).

    >>> round(update_k(0.5, 0.2, 0.05, gamma=0.5, lambda_k=0.1), 6)
    0.505
    >>> update_k(0.0, 0.1, 0.9, gamma=0.5, lambda_k=1.0)
    0.0
    """
    if isinstance(k, torch.Tensor):
        return (k + lambda_k * (gamma * loss_real - loss_fake)).clamp(0.0, 1.0)
    return min(max(float(k + lambda_k * (gamma * loss_real - loss_fake)), 0.0), 1.0)


def convergence(loss_real: _T, loss_fake: _T, gamma: float) -> _T:
    """BEGAN's convergence measure M = L(x) + |gamma * L(x) - L(G(z))| (lower is better).

    >>> round(convergence(0.2, 0.05, 0.5), 6)
    0.25
    """
    return loss_real + abs(gamma * loss_real - loss_fake)


def diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between images (N x C x H x W): falls sharply when G collapses to one face.

    >>> diversity(torch.zeros(4, 3, 8, 8)), round(diversity(torch.eye(2).view(2, 1, 1, 2)), 4)
    (0.0, 1.4142)
    """
    flat = images.flatten(1).float()
    n = len(flat)
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1))) if n > 1 else 0.0


def build_generator(cfg: BEGANConfig) -> Decoder:
    """G for a config: plain decoder, or a conditional one for VAC+/VAR+."""
    if cfg.cond == "none":
        return Decoder(cfg.size, cfg.z_dim, cfg.gen_widths)
    return ConditionalDecoder(cfg.size, cfg.z_dim, cfg.cond_width, cfg.gen_widths)


class BEGANTrainer:
    """Trains G and D (and the auxiliary net A for conditional variants) on preloaded uint8 images.

    ``images``: N x S x S x 3 uint8; ``conds``: N int labels ("class") or N x cond_dim floats ("regress").
    """

    def __init__(self, cfg: BEGANConfig, images: np.ndarray, conds: np.ndarray | None = None,
                 device: str | torch.device = "cpu") -> None:
        if images.ndim != 4 or images.shape[1:] != (cfg.size, cfg.size, 3):
            raise ValueError(f"images must be N x {cfg.size} x {cfg.size} x 3 uint8, got {images.shape}")
        if (cfg.cond != "none") != (conds is not None):
            raise ValueError(f"cond={cfg.cond!r} {'needs' if cfg.cond != 'none' else 'takes no'} conds")
        self.cfg = cfg
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed)  # initial weights
        self.G = build_generator(cfg).to(self.device)
        self.D = AutoEncoder(cfg.size, cfg.h_dim, cfg.enc_widths, cfg.gen_widths).to(self.device)
        self.A: nn.Module | None = None
        if cfg.cond != "none":
            self.A = Encoder(cfg.size, cfg.cond_width, cfg.aux_widths).to(self.device)
        # channels-last convolutions: faster on GPUs and on the CPU too (oneDNN; 0.61 vs 0.82 CPU-s a step at 64x64,
        # n_gen 32 / n_enc 16 / batch 16, one thread)
        for m in self.nets().values():
            m.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (Module.to takes it; stubs lag)
        betas = (cfg.beta1, cfg.beta2)
        self.opt = {name: torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=betas) for name, m in self.nets().items()}
        self.x = to_unit_range(images).to(self.device).contiguous(memory_format=torch.channels_last)
        self.c: torch.Tensor | None = None
        if conds is not None:
            dtype = torch.long if cfg.cond == "class" else torch.float32
            c = torch.as_tensor(np.asarray(conds), dtype=dtype)
            if cfg.cond == "regress":
                c = c.reshape(len(c), cfg.cond_dim)
            self.c = c.to(self.device)
        self.flip_sign = torch.tensor(cfg.cond_flip_sign, device=self.device)
        self.k = torch.tensor(float(cfg.k0), device=self.device)
        self.step = 0
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(cfg.seed + 1)
        self.fixed_z = self.sample_z(64, torch.Generator(device=self.device).manual_seed(12345))
        #: conditions for the sample grid of a conditional variant: ``f(n, device) -> n conditions``
        self.grid_conds: Callable[[int, torch.device], torch.Tensor] | None = None
        self.real_diversity: float | None = None
        self.best_diversity = 0.0

    def nets(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {"G": self.G, "D": self.D}
        if self.A is not None:
            out["A"] = self.A
        return out

    def sample_z(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        """z ~ U(-1, 1)^z_dim, as in the BEGAN paper."""
        return torch.rand(n, self.cfg.z_dim, generator=gen or self.gen, device=self.device) * 2 - 1

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg = self.cfg
        idx = torch.randint(0, self.x.shape[0], (cfg.batch,), generator=self.gen, device=self.device)
        x = self.x[idx]
        c = None if self.c is None else self.c[idx]
        if cfg.flip:
            flip = torch.rand(cfg.batch, generator=self.gen, device=self.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            if c is not None and cfg.cond == "regress":
                c = torch.where(flip[:, None], c * self.flip_sign, c)
        return x, c

    def _fake_conds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditions G is asked for: uniform classes, or regression targets drawn from the real ones (so the
        requests follow the data's distribution). Returns (targets for the aux loss, G's input encoding)."""
        cfg = self.cfg
        assert self.c is not None
        if cfg.cond == "class":
            y = torch.randint(0, cfg.num_classes, (cfg.batch,), generator=self.gen, device=self.device)
            return y, F.one_hot(y, cfg.num_classes).float()
        idx = torch.randint(0, self.c.shape[0], (cfg.batch,), generator=self.gen, device=self.device)
        y = self.c[idx]
        sign = torch.where(torch.rand(cfg.batch, 1, generator=self.gen, device=self.device) < 0.5, self.flip_sign, 1.0)
        y = y * sign
        return y, y

    def _aux_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.cfg.cond == "class":
            return F.cross_entropy(pred, target)
        return F.l1_loss(pred, target)

    def set_distributed(self, rank: int, world: int) -> None:
        """Data-parallel training (``train.distributed``): every rank draws the whole batch (real images, z,
        conditions) from the shared generator as one process would, and trains on its slice; the losses that
        steer ``k`` are averaged over the ranks, so ``k`` stays the same everywhere."""
        self.dist = DistContext(rank, world)

    def train_step(self) -> dict[str, torch.Tensor]:
        """One simultaneous G/D (and A) update; returns detached losses (device tensors: no sync here)."""
        cfg = self.cfg
        if cfg.lr_milestones:
            lr = cfg.lr * 0.5 ** sum(self.step >= m for m in cfg.lr_milestones)
            for o in self.opt.values():
                for g in o.param_groups:
                    g["lr"] = lr
        for o in self.opt.values():
            o.zero_grad(set_to_none=True)
        x, c_real = self._real_batch()
        z = self.sample_z(cfg.batch)
        y_fake: torch.Tensor | None = None
        c_in: torch.Tensor | None = None
        if self.A is not None:
            y_fake, c_in = self._fake_conds()
        dist = getattr(self, "dist", None)
        if dist is not None and dist.active:  # this rank's slice of the global batch
            part = dist.rank_slice(cfg.batch)
            x, z = x[part], z[part]
            c_real = None if c_real is None else c_real[part]
            y_fake = None if y_fake is None else y_fake[part]
            c_in = None if c_in is None else c_in[part]
        fake = self.G(z) if self.A is None else self.G(z, c_in)
        loss_fake = (self.D(fake) - fake).abs().mean()
        g_loss = loss_fake
        out: dict[str, torch.Tensor] = {}
        if self.A is not None:
            assert y_fake is not None
            aux_g = self._aux_loss(self.A(fake), y_fake)
            g_loss = loss_fake + cfg.lambda_aux * aux_g
            out["aux_fake"] = aux_g.detach()
        g_loss.backward()
        k = self.k
        for p in self.D.parameters():
            if p.grad is not None:
                p.grad.mul_(-k)
        loss_real = (self.D(x) - x).abs().mean()
        loss_real.backward()
        if self.A is not None:
            assert c_real is not None and y_fake is not None
            for p in self.A.parameters():
                p.grad = None  # A learns from its own loss below, not from G's
            aux_real = self._aux_loss(self.A(x), c_real)
            (aux_real + cfg.aux_fake_weight * self._aux_loss(self.A(fake.detach()), y_fake)).backward()
            out["aux_real"] = aux_real.detach()
        for o in self.opt.values():
            o.step()
        lr_, lf_ = loss_real.detach(), loss_fake.detach()
        if dist is not None and dist.active:
            lr_, lf_ = dist.all_mean(lr_), dist.all_mean(lf_)
        self.k = update_k(self.k, lr_, lf_, cfg.gamma, cfg.lambda_k)
        self.step += 1
        out.update(loss_real=lr_, loss_fake=lf_, k=self.k.detach().clone(), M=convergence(lr_, lf_, cfg.gamma))
        return out

    def fingerprint(self) -> str:
        """The config as canonical JSON: the training loop refuses a checkpoint made with another one."""
        return json.dumps(self.cfg.to_dict(), sort_keys=True)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Sample diversity (mean pairwise L2 of G on 64 fixed z) relative to 64 real faces', and ``keep`` = 1
        when it is at least ``keep_diverse`` times the best so far (the collapse guard's selection key)."""
        z = self.fixed_z[:64]
        if self.cfg.cond == "none":
            fake = self.generate(z)
        else:
            fake = self.generate(z, self._grid_conditions(len(z)))
        if self.real_diversity is None:
            self.real_diversity = diversity(self.x[:64])
        div = diversity(fake) / max(self.real_diversity, 1e-12)
        self.best_diversity = max(self.best_diversity, div)
        keep = float(div >= self.cfg.keep_diverse * self.best_diversity)
        return {"diversity_vs_real": div, "keep": keep}

    def weights(self) -> dict[str, torch.Tensor]:
        """What the collapse guard keeps: G alone."""
        return self.G.state_dict()

    def load_weights(self, w: dict[str, torch.Tensor]) -> None:
        self.G.load_state_dict(w)

    def sample_grid(self) -> np.ndarray:
        """G on the 64 fixed z as one uint8 grid image; conditional variants use ``grid_conds`` (default: classes
        cycling across the columns, or zero regression targets)."""
        from fakevision.gan.data import to_uint8
        from fakevision.gan.viz import image_grid

        z = self.fixed_z
        if self.cfg.cond == "none":
            return image_grid(to_uint8(self.generate(z)))
        return image_grid(to_uint8(self.generate(z, self._grid_conditions(len(z)))))

    def _grid_conditions(self, n: int) -> torch.Tensor:
        if self.grid_conds is not None:
            return self.grid_conds(n, self.device)
        if self.cfg.cond == "class":  # columns cycle through the classes
            return F.one_hot(torch.arange(n, device=self.device) % self.cfg.num_classes, self.cfg.num_classes).float()
        return torch.zeros(n, self.cfg.cond_dim, device=self.device)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) (or G(z, c)) in eval mode, in [-1, 1] (clamped)."""
        self.G.eval()
        out = self.G(z) if c is None else self.G(z, c)
        self.G.train()
        return out.clamp(-1, 1)

    # -- state for the training loop's checkpoints ----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything the next step depends on: nets, optimisers, k, step and the random generator."""
        return {
            "step": self.step,
            "best_diversity": self.best_diversity,
            "k": float(self.k),
            "gen_state": self.gen.get_state(),
            "nets": {n: m.state_dict() for n, m in self.nets().items()},
            "opt": {n: o.state_dict() for n, o in self.opt.items()},
        }

    def load_state_dict(self, st: dict[str, Any]) -> None:
        """Restore ``state_dict()``; the next ``train_step`` is the one the saved run would have taken."""
        for n, m in self.nets().items():
            m.load_state_dict(st["nets"][n])
        for n, o in self.opt.items():
            o.load_state_dict(st["opt"][n])
        self.step = int(st["step"])
        self.best_diversity = float(st.get("best_diversity", 0.0))
        self.k = torch.tensor(float(st["k"]), device=self.device)
        self.gen.set_state(st["gen_state"].cpu())
