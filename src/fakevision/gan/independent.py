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

import time
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from fakevision.gan.data import flip_landmarks, to_unit_range
from fakevision.gan.nets import Encoder, num_scales


def judge_widths(size: int, n: int) -> tuple[int, ...]:
    return tuple(n * min(i + 1, 4) for i in range(num_scales(size)))


def train_judge(images: np.ndarray, targets: np.ndarray, kind: Literal["class", "landmarks"],
                steps: int | None = None, seconds: float | None = None, n: int = 32, num_outputs: int = 2,
                batch: int = 64, lr: float = 3e-4, seed: int = 0,
                device: str | torch.device = "cpu") -> tuple[Encoder, list]:
    """Train a CNN on real uint8 faces: ``kind`` "class" (targets N ints, cross-entropy) or "landmarks"
    (targets N x 68 x 2 pixels, L1 on coordinates / size). Mirrored copies are added (landmark names swapped)."""
    if steps is None and seconds is None:
        raise ValueError("give steps or seconds")
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
    torch.manual_seed(seed)
    net = Encoder(size, out_dim, judge_widths(size, n)).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    x_all, y = to_unit_range(imgs).to(device), y.to(device)
    gen = torch.Generator(device=device).manual_seed(seed + 1)
    log, step, t0 = [], 0, time.perf_counter()
    while (steps is None or step < steps) and (seconds is None or time.perf_counter() - t0 < seconds):
        idx = torch.randint(0, len(x_all), (batch,), generator=gen, device=device)
        x = x_all[idx]
        # light photometric jitter so the judge keys on shape, not on exact colours of the training photos
        x = x * (1 + 0.2 * (torch.rand(batch, 1, 1, 1, generator=gen, device=device) - 0.5))
        pred = net(x)
        loss = F.cross_entropy(pred, y[idx]) if kind == "class" else F.l1_loss(pred + 0.5, y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            log.append({"step": step, "loss": loss.item()})
    log.append({"step": step, "loss": loss.item()})
    return net.eval(), log


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
