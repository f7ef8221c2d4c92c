"""Speed of the task protocols' training runs (landmarks, segmentation): ours vs a plain PyTorch loop of the same
model, measured in the same run and interleaved (best of ``--repeats``), and what that means for a whole table.

Run (from the repository root)::

    nice -n 19 python benchmarks/task_training.py            # ~3 min on 2 shared cores
    python benchmarks/task_training.py --device cuda          # on a GPU machine

Ours: ``fakevision.evaluate.fit.DenseTrainable.train_step`` -- the training set decoded once into one uint8 tensor,
a batch indexed out of it, converted to float channels-last, one thread per run; the U-Net's first level at half
resolution. The reference: what a straightforward PyTorch script does -- a ``DataLoader`` over a ``Dataset`` of the
same decoded arrays (per-sample float conversion, default collate, NCHW contiguous), and for segmentation the
classic full-resolution U-Net (``stem_stride=1``). Same model widths, batch and optimiser.

Also printed: steps/s of each, and the estimated wall time of the built-in tables (runs x steps / speed, on
``--workers`` parallel single-thread runs), so "a full table in well under an hour on 2 idle cores" is checked
against the machine it runs on. Say the machine load when you quote it (``uptime``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from fakevision.evaluate.fit import DenseTrainable, FitConfig
from fakevision.evaluate.landmarks import LandmarkTask, toy_faces
from fakevision.evaluate.segmentation import SegmentationTask
from fakevision.evaluate.task import ArraySet
from fakevision.train.models import UNet


class _Arrays(Dataset):
    def __init__(self, images: np.ndarray, targets: np.ndarray) -> None:
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):  # noqa: ANN204
        x = torch.from_numpy(self.images[i]).permute(2, 0, 1).float() / 127.5 - 1.0
        return x, torch.from_numpy(np.asarray(self.targets[i]))


def plain_steps(model: torch.nn.Module, data: ArraySet, loss_fn, batch: int, n: int, target_fn) -> float:  # noqa: ANN001
    """Seconds per step of the textbook loop."""
    loader = DataLoader(_Arrays(data.images, data.targets), batch_size=batch, shuffle=True, drop_last=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    it, done, t0 = iter(loader), 0, time.perf_counter()
    while done < n:
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            continue
        loss = loss_fn(model(x), target_fn(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += 1
    return (time.perf_counter() - t0) / n


def our_steps(trainable: DenseTrainable, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        trainable.train_step()
    return (time.perf_counter() - t0) / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="parallel runs assumed for the table estimate")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = {}
    # landmarks, 64 px: real-sized arrays (1,000 faces), the table's batch and model
    faces = toy_faces(1000, size=64, seed=0)
    lm = LandmarkTask(steps=10**6, batch_size=32, device=a.device)
    lm_tr = DenseTrainable(lm, faces, faces.subset(range(8)), lm.cfg, seed=0)
    ref_lm = lm.build_model(1, 64, 64).to(a.device)
    scale = torch.tensor([64.0, 64.0])
    # segmentation, 128 x 96: 250 images like MMU's training split
    rng = np.random.default_rng(0)
    seg_imgs = rng.integers(0, 255, (250, 96, 128, 1), dtype=np.uint8)
    seg_maps = (rng.random((250, 96, 128)) > 0.9).astype(np.uint8)
    seg = ArraySet(seg_imgs, seg_maps, [str(i) for i in range(250)], "noise", ["background", "iris"])
    st = SegmentationTask(steps=10**6, device=a.device, classes=["background", "iris"])
    seg_tr = DenseTrainable(st, seg, seg.subset(range(8)), st.cfg, seed=0)
    ref_seg = UNet(1, 2, st.widths, stem_stride=1).to(a.device)
    best: dict[str, float] = {}
    for _ in range(a.repeats):  # interleaved: load from other processes hits every contender alike
        for name, fn in (
            ("landmarks ours", lambda: our_steps(lm_tr, a.steps)),
            ("landmarks plain", lambda: plain_steps(ref_lm, faces, F.l1_loss, 32, a.steps, lambda y: y / scale)),
            ("segmentation ours", lambda: our_steps(seg_tr, a.steps)),
            ("segmentation plain full-res U-Net", lambda: plain_steps(ref_seg, seg, st.loss, 16, a.steps,
                                                                      lambda y: y.long())),
        ):
            best[name] = min(best.get(name, float("inf")), fn())
    for name, sec in best.items():
        rows[name] = {"s_per_step": round(sec, 4), "steps_per_s": round(1 / sec, 1)}
    rows["ratio landmarks plain/ours"] = round(best["landmarks plain"] / best["landmarks ours"], 2)
    rows["ratio segmentation plain/ours"] = round(best["segmentation plain full-res U-Net"]
                                                  / best["segmentation ours"], 2)
    from fakevision.evaluate.table import load_table

    for table, task_key in (("landmarks", "landmarks ours"), ("iris", "segmentation ours")):
        spec, _ = load_table(table)
        n_runs = sum(spec.seeds * (len(spec.real_n) if r.real else 1) for r in spec.rows)
        steps = spec.train.get("steps", FitConfig.steps)
        hours = n_runs * steps * best[task_key] / a.workers / 3600
        rows[f"table {table}: estimated wall h on {a.workers} workers"] = {
            "runs": n_runs, "steps_per_run": steps, "hours": round(hours, 2)}
    print(json.dumps({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                      "load_avg_1min": round(os.getloadavg()[0], 2), "torch_threads": a.threads,
                      "device": a.device, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
