"""A fast generator F distilled from a trained BEGAN generator G: same latent space, a fraction of the cost.

Why distil rather than train a narrow BEGAN: a narrow G trained from scratch (n_gen 32) learns its *own* latent
space, so E and L must be retrained for it, and in the third GPU session its faces were blurrier and its
landmarks far worse (L(z) vs dlib 0.42). F instead learns the map z -> G(z) itself, on random z (no data needed):
F(z) ~ G(z) for every z, so the landmark generator L that was fitted for G gives F's landmarks too, and every
fast face still comes with its annotation. Loss: pixel L1 + image-gradient L1 (keeps edges that a pixel loss
alone blurs) + optionally |judge(F(z)) - judge(G(z))| for a landmark regressor ``judge`` (keeps geometry).

>>> from fakevision.gan.began import BEGANConfig, build_generator
>>> cfg = BEGANConfig(size=16, z_dim=8, n_gen=8)
>>> teacher = build_generator(cfg)
>>> F, fcfg, log = distill_generator(teacher, cfg, n_gen=4, steps=30, batch=16)
>>> fcfg.n_gen, log[-1]["val_l1"] < log[0]["val_l1"]
(4, True)
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from torch import nn

from fakevision.gan.began import BEGANConfig, build_generator
from fakevision.gan.nets import frozen
from fakevision.train.loop import LoopConfig, run_training


def gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean |horizontal and vertical finite differences of a - those of b| (B x C x H x W)."""
    dx = (a[..., :, 1:] - a[..., :, :-1]) - (b[..., :, 1:] - b[..., :, :-1])
    dy = (a[..., 1:, :] - a[..., :-1, :]) - (b[..., 1:, :] - b[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def distill_generator(teacher: nn.Module, cfg: BEGANConfig, n_gen: int = 32, steps: int | None = None,
                      seconds: float | None = None, batch: int = 256, lr: float = 1e-3,
                      judge: nn.Module | None = None, device: str | torch.device = "cpu",
                      seed: int = 0, log_every: int = 500, out: str | Path | None = None,
                      ckpt_every: int = 200) -> tuple[nn.Module, BEGANConfig, list[dict]]:
    """Train F (a BEGAN decoder of width ``n_gen``, same size and z as ``cfg``) to reproduce ``teacher`` on random
    z ~ U(-1, 1); Adam with a cosine decay over ``steps`` (or ``seconds`` of this call). Returns (F on the CPU, F's
    config, validation rows: the L1 to the teacher on 512 fixed z at step 0, every ``log_every`` steps and at the
    end). Deterministic for a given seed and device.

    ``out``: a folder for the training loop's checkpoint (every ``ckpt_every`` steps and at the end) and log; a
    call that finds a checkpoint there resumes from it, so with ``steps`` an interrupted run ends where an unbroken
    one would (on a CPU a distillation takes hours: ~4 s per step of 256 z on 2 cores)."""
    task = DistillTask(teacher, cfg, n_gen, steps, seconds, batch, lr, judge, device, seed)
    with frozen(task.T, task.judge):
        res = run_training(task, LoopConfig(steps=steps, seconds=seconds, out=out, checkpoint_every=ckpt_every,
                                            log_every=log_every, validate_every=log_every, validate_first=True))
    return task.F.eval().cpu(), task.fcfg, res.validations


class DistillTask:
    """The distillation as a ``fakevision.train.loop.Trainable``; see ``distill_generator``."""

    def __init__(self, teacher: nn.Module, cfg: BEGANConfig, n_gen: int, steps: int | None, seconds: float | None,
                 batch: int, lr: float, judge: nn.Module | None, device: str | torch.device, seed: int) -> None:
        device = torch.device(device)
        self.device, self.cfg, self.steps, self.seconds, self.batch, self.lr = device, cfg, steps, seconds, batch, lr
        self.T = teacher.to(device).eval()
        self.judge = None if judge is None else judge.to(device).eval()
        self.fcfg = BEGANConfig.from_dict({**cfg.to_dict(), "n_gen": n_gen})
        torch.manual_seed(seed)
        self.F = build_generator(self.fcfg).to(device)
        self.opt = torch.optim.Adam(self.F.parameters(), lr=lr, betas=(0.9, 0.99))
        self.gen = torch.Generator(device=device).manual_seed(seed + 1)
        self.zval = (torch.rand(512, cfg.z_dim, generator=torch.Generator().manual_seed(seed + 2)) * 2 - 1).to(device)
        with torch.no_grad():
            self.tval = self.T(self.zval).clamp(-1, 1)
        self.settings = {"n_gen": n_gen, "batch": batch, "lr": lr, "seed": seed, "steps": steps,
                         "judge": judge is not None, "teacher": cfg.to_dict()}
        self.step = 0
        self.t0: float | None = None

    def train_step(self) -> dict[str, float]:
        if self.t0 is None:
            self.t0 = time.perf_counter()
        elapsed = time.perf_counter() - self.t0
        frac = self.step / self.steps if self.steps is not None else elapsed / self.seconds  # type: ignore[operator]
        for g in self.opt.param_groups:
            g["lr"] = self.lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        z = torch.rand(self.batch, self.cfg.z_dim, generator=self.gen, device=self.device) * 2 - 1
        with torch.no_grad():
            t = self.T(z)
        f = self.F(z)
        loss = (f - t).abs().mean() + gradient_l1(f, t)
        if self.judge is not None:
            with torch.no_grad():
                jt = self.judge(t.clamp(-1, 1))
            loss = loss + (self.judge(f) - jt).abs().mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return {"loss": loss.detach()}

    def validate(self) -> dict[str, float]:
        elapsed = 0.0 if self.t0 is None else time.perf_counter() - self.t0
        with torch.no_grad():
            return {"seconds": elapsed, "val_l1": float((self.F(self.zval).clamp(-1, 1) - self.tval).abs().mean())}

    def fingerprint(self) -> str:
        return json.dumps(self.settings, sort_keys=True)

    def state_dict(self) -> dict:
        return {"step": self.step, "F": self.F.state_dict(), "opt": self.opt.state_dict(),
                "gen_state": self.gen.get_state()}

    def load_state_dict(self, st: dict) -> None:
        self.step = int(st["step"])
        self.F.load_state_dict(st["F"])
        self.opt.load_state_dict(st["opt"])
        self.gen.set_state(st["gen_state"].cpu() if self.gen.device.type == "cpu" else st["gen_state"])
