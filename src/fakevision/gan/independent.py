"""Independent judges for the GAN measurements: a gender classifier and a landmark regressor trained on *real*
faces only, never on generated ones.

Why: VAC+GAN's own auxiliary classifier is trained together with G, so it can be fooled by patterns G learned to
show it; the brief's criterion is that a classifier that never saw G's output recognises the requested class. The
landmark regressor plays the role of the off-the-shelf detector (dlib is not a dependency): it measures NME of
L(z) against the landmarks it finds on G(z), and the achieved yaw of VAR+GAN samples.

>>> import numpy as np
>>> net, log = train_judge(np.zeros((4, 16, 16, 3), np.uint8), np.array([0, 1, 0, 1]), "class", steps=2, n=4,
...                        num_outputs=2)
>>> predict(net, np.zeros((3, 16, 16, 3), np.uint8)).shape
torch.Size([3, 2])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from fakevision.gan.data import flip_landmarks, to_unit_range
from fakevision.gan.nets import Encoder, num_scales
from fakevision.train.loop import LoopConfig, run_training


def judge_widths(size: int, n: int) -> tuple[int, ...]:
    return tuple(n * min(i + 1, 4) for i in range(num_scales(size)))


def random_affine(x: torch.Tensor, rel: torch.Tensor, gen: torch.Generator, scale: float = 0.08,
                  degrees: float = 8.0, shift: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp a batch (B x C x S x S) by random similarity transforms and move its relative landmarks (B x K x 2,
    corner convention / S) with them. ``affine_grid`` (align_corners=False) maps output to input in normalised
    coordinates u = 2 * rel - 1, so a landmark moves by the inverse map.

    >>> x = torch.zeros(2, 1, 8, 8); rel = torch.rand(2, 3, 2)
    >>> y, r = random_affine(x, rel, torch.Generator().manual_seed(0), scale=0, degrees=0, shift=0)
    >>> bool(torch.allclose(r, rel, atol=1e-6))
    True
    """
    b, dev = len(x), x.device
    u = lambda lo_hi: (torch.rand(b, generator=gen, device=dev) * 2 - 1) * lo_hi  # noqa: E731
    s, a = 1 + u(scale), torch.deg2rad(u(degrees))
    t = torch.stack([u(shift) * 2, u(shift) * 2], dim=1)
    A = torch.stack([torch.stack([s * torch.cos(a), -s * torch.sin(a)], 1),
                     torch.stack([s * torch.sin(a), s * torch.cos(a)], 1)], 1)  # output -> input
    grid = F.affine_grid(torch.cat([A, t[:, :, None]], 2), list(x.shape), align_corners=False)
    warped = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    v = (rel * 2 - 1 - t[:, None, :]) @ torch.linalg.inv(A).transpose(1, 2)
    return warped, (v + 1) / 2


def train_judge(images: np.ndarray, targets: np.ndarray, kind: Literal["class", "landmarks"],
                steps: int | None = None, seconds: float | None = None, n: int = 32, num_outputs: int = 2,
                batch: int = 64, lr: float = 3e-4, seed: int = 0, augment: bool = False,
                device: str | torch.device = "cpu") -> tuple[Encoder, list]:
    """Train a CNN on real uint8 faces: ``kind`` "class" (targets N ints, cross-entropy) or "landmarks"
    (targets N x 68 x 2 pixels, L1 on coordinates / size). Mirrored copies are added (landmark names swapped).
    ``augment`` adds random similarity warps (landmarks moved with them), which a regressor trained on ~1k faces
    needs to generalise; the learning rate follows a cosine schedule when ``steps`` is given."""
    task = JudgeTask(images, targets, kind, steps, n, num_outputs, batch, lr, seed, augment, device)
    res = run_training(task, LoopConfig(steps=steps, seconds=seconds, log_every=200))
    return task.net.eval(), res.logs


class JudgeTask:
    """A judge's training as a ``fakevision.train.loop.Trainable``; see ``train_judge``."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, kind: Literal["class", "landmarks"],
                 steps: int | None, n: int, num_outputs: int, batch: int, lr: float, seed: int, augment: bool,
                 device: str | torch.device) -> None:
        device = torch.device(device)
        size = images.shape[1]
        imgs = np.concatenate([images, images[:, :, ::-1]])
        if kind == "class":
            y = torch.as_tensor(np.concatenate([targets, targets]), dtype=torch.long)
            out_dim = num_outputs
        else:
            lm = np.concatenate([targets, flip_landmarks(targets, size)]) / size
            y = torch.as_tensor(lm.reshape(len(lm), -1), dtype=torch.float32)
            out_dim = y.shape[1]
        self.kind, self.batch, self.augment, self.device = kind, batch, augment, device
        torch.manual_seed(seed)
        self.net = Encoder(size, out_dim, judge_widths(size, n)).to(device)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=1e-4)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, steps) if steps else None
        self.x_all, self.y = to_unit_range(imgs).to(device), y.to(device)
        self.gen = torch.Generator(device=device).manual_seed(seed + 1)
        self.settings = {"kind": kind, "steps": steps, "n": n, "outputs": out_dim, "batch": batch, "lr": lr,
                         "seed": seed, "augment": augment, "size": size}
        self.step = 0

    def train_step(self) -> dict[str, float]:
        batch, gen, device = self.batch, self.gen, self.device
        idx = torch.randint(0, len(self.x_all), (batch,), generator=gen, device=device)
        x, target = self.x_all[idx], self.y[idx]
        if self.augment and self.kind == "landmarks":
            x, rel = random_affine(x, target.view(batch, -1, 2), gen)
            target = rel.reshape(batch, -1)
        # light photometric jitter so the judge keys on shape, not on exact colours of the training photos
        x = x * (1 + 0.2 * (torch.rand(batch, 1, 1, 1, generator=gen, device=device) - 0.5))
        pred = self.net(x)
        loss = F.cross_entropy(pred, target) if self.kind == "class" else F.l1_loss(pred + 0.5, target)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        self.step += 1
        return {"loss": loss.item()}

    def fingerprint(self) -> str:
        return json.dumps(self.settings, sort_keys=True)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "net": self.net.state_dict(), "opt": self.opt.state_dict(),
                "sched": None if self.sched is None else self.sched.state_dict(), "gen": self.gen.get_state()}

    def load_state_dict(self, st: dict[str, Any]) -> None:
        self.step = int(st["step"])
        self.net.load_state_dict(st["net"])
        self.opt.load_state_dict(st["opt"])
        if self.sched is not None:
            self.sched.load_state_dict(st["sched"])
        self.gen.set_state(st["gen"].cpu())


@torch.no_grad()
def predict(net: torch.nn.Module, images: np.ndarray, batch: int = 256,
            device: str | torch.device = "cpu") -> torch.Tensor:
    """Raw outputs of a judge for uint8 faces (logits, or flattened relative landmarks - 0.5)."""
    return torch.cat([net(to_unit_range(images[i:i + batch]).to(device)).float().cpu()
                      for i in range(0, len(images), batch)])


def predict_landmarks(net: torch.nn.Module, images: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """N x 68 x 2 landmarks in pixels from a landmark judge."""
    size = images.shape[1]
    return ((predict(net, images, device=device) + 0.5).view(len(images), -1, 2) * size).numpy()


def load_judges(path: str | Path) -> tuple[dict[str, Encoder], dict[str, str]]:
    """The judges written by ``fakevision.gan.api.train_judges`` (``landmarks``: 68-point regressor, ``gender``:
    2-class classifier), in eval mode, and the file's metadata (size, widths, the gender test indices)."""
    from fakevision.gan.model import load_nets

    parts, meta = load_nets(path)
    size, widths = int(meta["size"]), tuple(json.loads(meta["widths"]))
    nets = {}
    for name, dim in (("landmarks", 136), ("gender", 2)):
        if name in parts:
            net = Encoder(size, dim, widths)
            net.load_state_dict(parts[name])
            nets[name] = net.eval()
    return nets, meta
