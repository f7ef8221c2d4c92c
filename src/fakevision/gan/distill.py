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
import pickle
import time
from pathlib import Path

import torch
from torch import nn

from fakevision.gan.began import BEGANConfig, build_generator
from fakevision.gan.nets import frozen


def gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean |horizontal and vertical finite differences of a - those of b| (B x C x H x W)."""
    dx = (a[..., :, 1:] - a[..., :, :-1]) - (b[..., :, 1:] - b[..., :, :-1])
    dy = (a[..., 1:, :] - a[..., :-1, :]) - (b[..., 1:, :] - b[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def distill_generator(teacher: nn.Module, cfg: BEGANConfig, n_gen: int = 32, steps: int | None = None,
                      seconds: float | None = None, batch: int = 256, lr: float = 1e-3,
                      judge: nn.Module | None = None, device: str | torch.device = "cpu",
                      seed: int = 0, log_every: int = 500, checkpoint: str | Path | None = None,
                      ckpt_every: int = 200) -> tuple[nn.Module, BEGANConfig, list[dict]]:
    """Train F (a BEGAN decoder of width ``n_gen``, same size and z as ``cfg``) to reproduce ``teacher`` on random
    z ~ U(-1, 1); Adam with a cosine decay over ``steps`` (or ``seconds`` of this call). Returns (F on the CPU, F's
    config, log rows with the validation L1 on 512 fixed z). Deterministic for a given seed and device.

    ``checkpoint``: a file written every ``ckpt_every`` steps and at the end (F, Adam, step, random state, log); a
    call that finds it resumes from it, so with ``steps`` an interrupted run ends where an unbroken one would (on
    a CPU a distillation takes hours: ~4 s per step of 256 z on 2 cores)."""
    if steps is None and seconds is None:
        raise ValueError("give steps or seconds")
    device = torch.device(device)
    T = teacher.to(device).eval()
    if judge is not None:
        judge = judge.to(device).eval()
    fcfg = BEGANConfig.from_dict({**cfg.to_dict(), "n_gen": n_gen})
    torch.manual_seed(seed)
    F = build_generator(fcfg).to(device)
    opt = torch.optim.Adam(F.parameters(), lr=lr, betas=(0.9, 0.99))
    gen = torch.Generator(device=device).manual_seed(seed + 1)
    zval = (torch.rand(512, cfg.z_dim, generator=torch.Generator().manual_seed(seed + 2)) * 2 - 1).to(device)
    with torch.no_grad():
        tval = T(zval).clamp(-1, 1)

    def validate(step: int, elapsed: float) -> dict:
        with torch.no_grad():
            return {"step": step, "seconds": elapsed, "val_l1": float((F(zval).clamp(-1, 1) - tval).abs().mean())}

    ckpt = Path(checkpoint) if checkpoint is not None else None
    settings = {"n_gen": n_gen, "batch": batch, "lr": lr, "seed": seed, "steps": steps, "judge": judge is not None,
                "teacher": cfg.to_dict()}
    step, log = 0, []
    if ckpt is not None and ckpt.is_file():
        step, log = _load_checkpoint(ckpt, settings, F, opt, gen)
    if not log:
        log = [validate(0, 0.0)]
    t0 = time.perf_counter()
    with frozen(T, judge):
        while True:
            elapsed = time.perf_counter() - t0
            if (steps is not None and step >= steps) or (seconds is not None and elapsed >= seconds):
                break
            frac = step / steps if steps is not None else elapsed / seconds  # type: ignore[operator]
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
            z = torch.rand(batch, cfg.z_dim, generator=gen, device=device) * 2 - 1
            with torch.no_grad():
                t = T(z)
            f = F(z)
            loss = (f - t).abs().mean() + gradient_l1(f, t)
            if judge is not None:
                with torch.no_grad():
                    jt = judge(t.clamp(-1, 1))
                loss = loss + (judge(f) - jt).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % log_every == 0:
                log.append(validate(step, time.perf_counter() - t0))
            if ckpt is not None and step % ckpt_every == 0:
                _save_checkpoint(ckpt, settings, F, opt, gen, step, log)
    if log[-1]["step"] != step:
        log.append(validate(step, time.perf_counter() - t0))
    if ckpt is not None:
        _save_checkpoint(ckpt, settings, F, opt, gen, step, log)
    return F.eval().cpu(), fcfg, log


def _save_checkpoint(path: Path, settings: dict, F: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
                     step: int, log: list[dict]) -> None:
    from fakevision.io.atomic import atomic_path

    state = {"settings": json.dumps(settings, sort_keys=True), "F": F.state_dict(), "opt": opt.state_dict(),
             "gen_state": gen.get_state(), "step": step, "log": log}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path, settings: dict, F: nn.Module, opt: torch.optim.Optimizer,
                     gen: torch.Generator) -> tuple[int, list[dict]]:
    from fakevision.core.errors import InputError

    try:
        st = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise InputError(f"cannot read distillation checkpoint ({e})", path) from None
    if st.get("settings") != json.dumps(settings, sort_keys=True):
        raise InputError("distillation checkpoint was made with other settings (teacher, width, batch, lr, seed "
                         "or steps); delete it or use another --out", path)
    F.load_state_dict(st["F"])
    opt.load_state_dict(st["opt"])
    gen.set_state(st["gen_state"].cpu() if gen.device.type == "cpu" else st["gen_state"])
    return int(st["step"]), list(st["log"])
