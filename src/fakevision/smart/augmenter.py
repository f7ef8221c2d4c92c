"""Smart Augmentation as a ``BatchAugmenter``: A and B train together, step by step.

Each training step, for every real image x (label c) in the batch:

1. A's input: x and ``k - 1`` random training images of class c, stacked on channels; A outputs one image.
2. A's target for the similarity term: another random training image of class c (not one of its inputs when the
   class has enough images).
3. A's loss = α · CE(B(A(x)), c) + β · MSE(A(x), target) (the paper's α = 0.3, β = 0.7 by default); A takes one
   Adam step on it. Gradients reach A *through* B, which is what lets A learn what helps B; B's own parameters
   are not stepped here (their gradients are cleared before B's step).
4. B trains on the real batch and on A's outputs (detached), both labelled c; with ``use_classical`` the
   classical flip/shift is applied to both.

After training, ``generate`` makes new images from chosen parents, and ``save`` writes a checkpoint the
``"smart"`` source reads.

>>> import torch
>>> aug = SmartAugmenter(k=2, per_class=False)
>>> g = torch.Generator().manual_seed(0)
>>> aug.fit(torch.rand(8, 1, 16, 16), torch.tensor([0, 1] * 4), 2, g)
>>> from fakevision.train.models import PaperNetB
>>> batches = aug(torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 0, 1]), PaperNetB(1, 2, 16), g)
>>> [tuple(b[0].shape) for b in batches], aug.steps
([(4, 1, 16, 16), (4, 1, 16, 16)], 1)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fakevision.smart.baselines import _Base, classical
from fakevision.smart.networks import NetA, PerClassA
from fakevision.train.classifier import Batch


class SmartAugmenter(_Base):
    def __init__(
        self,
        k: int = 2,
        per_class: bool = False,
        alpha: float = 0.3,
        beta: float = 0.7,
        lr: float = 1e-3,
        output: str = "paper",
        use_classical: bool = False,
    ) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k, self.per_class, self.alpha, self.beta, self.lr = k, per_class, alpha, beta, lr
        self.output, self.use_classical = output, use_classical
        self.name = (f"smart(k={k},nets={'per-class' if per_class else 1},a={alpha},b={beta},{output})"
                     + ("+classical" if use_classical else ""))
        self.steps = 0
        self.last: dict[str, float] = {}

    def fit(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int, gen: torch.Generator) -> None:
        super().fit(images, labels, num_classes, gen)
        c = images.shape[1]
        self.net: nn.Module = (PerClassA(num_classes, self.k, c, self.output) if self.per_class
                               else NetA(self.k, c, self.output)).to(images.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)

    def run_a(self, stacked: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(stacked, y) if self.per_class else self.net(stacked)

    def _inputs(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.same_class(y, self.k, gen)  # k-1 partners + 1 similarity target
        parts = [x] + [self.images[idx[:, j]] for j in range(self.k - 1)]
        return torch.cat(parts, 1), self.images[idx[:, self.k - 1]]

    def __call__(self, x: torch.Tensor, y: torch.Tensor, model: nn.Module, gen: torch.Generator) -> list[Batch]:
        self.net.train()
        stacked, target = self._inputs(x, y, gen)
        out = self.run_a(stacked, y)
        ce = F.cross_entropy(model(out), y)
        sim = F.mse_loss(out, target)
        loss = self.alpha * ce + self.beta * sim
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.steps += 1
        self.last = {"loss_a": float(loss.detach()), "ce_b_on_a": float(ce.detach()), "mse": float(sim.detach())}
        gen_x = out.detach().clamp(0.0, 1.0)
        real = x
        if self.use_classical:
            real, gen_x = classical(real, gen), classical(gen_x, gen)
        return [(real, self.onehot(y)), (gen_x, self.onehot(y))]

    @torch.no_grad()
    def generate(self, parents: torch.Tensor, label: int) -> torch.Tensor:
        """One image per row of ``parents`` (N x k x C x H x W, same class ``label``), clipped to [0, 1]."""
        self.net.eval()
        n = parents.shape[0]
        stacked = parents.reshape(n, -1, *parents.shape[-2:])
        return self.run_a(stacked, torch.full((n,), label, dtype=torch.long)).clamp(0.0, 1.0)

    def config(self) -> dict[str, Any]:
        return {"k": self.k, "per_class": self.per_class, "alpha": self.alpha, "beta": self.beta, "lr": self.lr,
                "output": self.output, "use_classical": self.use_classical}

    def save(self, path: str | Path, classes: list[str], channels: int, size: int) -> None:
        """Checkpoint A (weights + config + class names + image geometry), written atomically."""
        from fakevision.io.atomic import atomic_path

        with atomic_path(path) as tmp:
            torch.save({"config": self.config(), "classes": classes, "channels": channels, "size": size,
                        "state_dict": self.net.state_dict()}, tmp)

    @classmethod
    def load(cls, path: str | Path) -> tuple[SmartAugmenter, dict[str, Any]]:
        """Rebuild a trained augmenter (A only) from ``save``'s checkpoint; returns (augmenter, metadata)."""
        from fakevision.core.errors import InputError

        try:
            ck = torch.load(Path(path), map_location="cpu", weights_only=True)
            aug = cls(**ck["config"])
            c, k = ck["channels"], len(ck["classes"])
            aug.net = PerClassA(k, aug.k, c, aug.output) if aug.per_class else NetA(aug.k, c, aug.output)
            aug.net.load_state_dict(ck["state_dict"])
        except FileNotFoundError:
            raise InputError("Smart Augmentation checkpoint not found", path) from None
        except (KeyError, TypeError, RuntimeError, OSError) as e:
            raise InputError(f"not a Smart Augmentation checkpoint ({type(e).__name__})", path) from None
        aug.num_classes = k
        return aug, {"classes": ck["classes"], "channels": c, "size": ck["size"]}
