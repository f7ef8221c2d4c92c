"""Adversarial samples as hard, label-preserving training data, and clean vs adversarial accuracy.

* ``fgsm`` -- Goodfellow et al. 2014: ``x + ε · sign(∇x loss)``, clipped to [0, 1]; one gradient step, so cheap
  enough to make a whole hard set.
* ``one_pixel_attack`` -- Su et al. 2017: differential evolution (DE/rand/1, F = 0.5, no crossover, as in the
  paper) over (x, y, value) of ``pixels`` pixels, minimising the true-class probability; vectorised over images
  and population, so a hundred 32 x 32 images take seconds.

Experiment (``run_adversarial``): train a model on real data, make FGSM versions of the training images against
it (the labels stay: ε is small enough to keep the class), train a fresh model on real + those hard samples, and
measure both models on clean test images, on FGSM test images made against each model itself (white box), and
under the one-pixel attack on a fixed test subset.

>>> import torch
>>> from fakevision.train.models import SmallCNN
>>> m = SmallCNN(1, 2).eval(); x = torch.rand(4, 1, 16, 16); y = torch.tensor([0, 1, 0, 1])
>>> adv = fgsm(m, x, y, 0.03)
>>> bool((adv - x).abs().max() <= 0.03 + 1e-6), adv.shape
(True, torch.Size([4, 1, 16, 16]))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakevision.evaluate.stats import summarise
from fakevision.io.atomic import atomic_write_json
from fakevision.io.labelled import load_known_set
from fakevision.train.classifier import evaluate, to_tensor, train_classifier


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, batch_size: int = 256) -> torch.Tensor:
    """FGSM images (model in eval mode; its parameters are not changed)."""
    model.eval()
    out = []
    for s in range(0, len(x), batch_size):
        xb = x[s : s + batch_size].clone().requires_grad_(True)
        loss = F.cross_entropy(model(xb), y[s : s + batch_size])
        (grad,) = torch.autograd.grad(loss, xb)
        out.append((xb + epsilon * grad.sign()).clamp(0, 1).detach())
    return torch.cat(out)


@torch.no_grad()
def one_pixel_attack(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, pixels: int = 1, popsize: int = 100, iters: int = 30,
    gen: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (adversarial images, success mask). A candidate is ``pixels`` x (col, row, value) with every
    channel of the pixel set to ``value``; fitness is the true-class probability (lower is better)."""
    model.eval()
    gen = gen or torch.Generator().manual_seed(0)
    n, c, h, w = x.shape
    scale = torch.tensor([w, h, 1.0]).repeat(pixels)
    pop = torch.rand(n, popsize, 3 * pixels, generator=gen) * scale

    def apply(cands: torch.Tensor) -> torch.Tensor:  # cands N x P x 3p -> (N*P) x C x H x W
        imgs = x[:, None].expand(n, cands.shape[1], c, h, w).clone()
        for q in range(pixels):
            col = cands[..., 3 * q].long().clamp(0, w - 1)
            row = cands[..., 3 * q + 1].long().clamp(0, h - 1)
            val = cands[..., 3 * q + 2].clamp(0, 1)
            ii, pp = torch.meshgrid(torch.arange(n), torch.arange(cands.shape[1]), indexing="ij")
            imgs[ii, pp, :, row, col] = val[..., None].expand(n, cands.shape[1], c)
        return imgs.view(-1, c, h, w)

    def fitness(cands: torch.Tensor) -> torch.Tensor:
        p = F.softmax(model(apply(cands)), 1).view(n, cands.shape[1], -1)
        return p.gather(2, y.view(n, 1, 1).expand(n, cands.shape[1], 1)).squeeze(2)

    fit = fitness(pop)
    for _ in range(iters):
        idx = torch.stack([torch.randperm(popsize, generator=gen)[:3] for _ in range(popsize)])  # P x 3
        trial = pop[:, idx[:, 0]] + 0.5 * (pop[:, idx[:, 1]] - pop[:, idx[:, 2]])
        trial = torch.minimum(torch.maximum(trial, torch.zeros_like(scale)), scale - 1e-6 * (scale > 1))
        tf = fitness(trial)
        better = tf < fit
        pop = torch.where(better[..., None], trial, pop)
        fit = torch.where(better, tf, fit)
    best = fit.argmin(1)
    adv = apply(pop[torch.arange(n), best][:, None]).view(n, c, h, w)
    success = model(adv).argmax(1) != y
    return adv, success


def run_adversarial(
    dataset: str,
    data_root: str | Path,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    epsilon: float = 0.03,
    model: str = "smallcnn",
    epochs: int = 30,
    size: int = 32,
    onepixel_n: int = 50,
    onepixel_pop: int = 50,
    onepixel_iters: int = 20,
    device: str = "cpu",
    out_dir: str | Path | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Clean / FGSM / one-pixel accuracy of models trained on real only and on real + FGSM hard samples."""
    t0 = time.perf_counter()
    ds, split = load_known_set(dataset, data_root, size=size, grey=True)
    tr, va, te = (ds.subset(s) for s in (split.train, split.val, split.test))
    k = len(ds.classes)
    xte, yte = to_tensor(te.images), torch.as_tensor(te.labels)
    sub = np.random.default_rng(0).permutation(len(te))[:onepixel_n]
    acc: dict[str, dict[str, list[float]]] = {"real only": {}, "real + FGSM hard samples": {}}
    for seed in seeds:
        base = train_classifier(model, (tr.images, tr.labels), (va.images, va.labels), (te.images, te.labels), k,
                                epochs=epochs, seed=seed, device=device)
        m0 = base["model"].cpu()
        hard = fgsm(m0, to_tensor(tr.images), torch.as_tensor(tr.labels), epsilon)
        hard_u8 = (hard.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
        aug = train_classifier(model, (np.concatenate([tr.images, hard_u8]), np.concatenate([tr.labels, tr.labels])),
                               (va.images, va.labels), (te.images, te.labels), k, epochs=epochs, seed=seed,
                               device=device)
        for name, m in (("real only", m0), ("real + FGSM hard samples", aug["model"].cpu())):
            clean = evaluate(m, xte, yte)[0]
            adv = evaluate(m, fgsm(m, xte, yte, epsilon), yte)[0]
            _, ok = one_pixel_attack(m, xte[sub], yte[sub], popsize=onepixel_pop, iters=onepixel_iters,
                                    gen=torch.Generator().manual_seed(seed))
            correct = (m(xte[sub]).argmax(1) == yte[sub]) & ~ok
            for key, v in (("clean", clean), ("fgsm", adv), ("onepixel", float(correct.float().mean()))):
                acc[name].setdefault(key, []).append(v)
            log(f"{dataset} seed {seed} {name}: clean {clean:.3f} fgsm {adv:.3f} 1px {acc[name]['onepixel'][-1]:.3f}")
    res = {"dataset": dataset, "seeds": list(seeds), "epsilon": epsilon, "model": model, "epochs": epochs,
           "size": size,
           "onepixel": {"n_images": int(len(sub)), "popsize": onepixel_pop, "iters": onepixel_iters, "pixels": 1},
           "rows": [{"training": name, "clean_acc": summarise(v["clean"]), "fgsm_acc": summarise(v["fgsm"]),
                     "onepixel_acc": summarise(v["onepixel"])} for name, v in acc.items()],
           "wall_s": round(time.perf_counter() - t0, 1)}
    if out_dir:
        atomic_write_json(Path(out_dir) / "adversarial.json", res)
    return res
