"""Data-parallel training through the one loop: 2 CPU processes under torchrun (gloo) give the weights one process
gives (same global batch, averaged gradients), rank 0 alone writes, and a resumed run continues where it stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fakevision.train.distributed import (
    DistContext,
    GradientSync,
    context,
    task_optimizers,
)

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import json, sys
import numpy as np, torch
from torch import nn
from fakevision.train.classifier import train_classifier
from fakevision.train.distributed import context

rng = np.random.default_rng(0)
x = rng.integers(0, 256, (48, 6, 6, 1), dtype=np.uint8)
y = (x.reshape(48, -1).mean(1) > 127).astype(np.int64)
torch.manual_seed(0)
net = nn.Sequential(nn.Flatten(), nn.Linear(36, 8), nn.Tanh(), nn.Linear(8, 2))
res = train_classifier(net, (x[:32], y[:32]), (x[32:40], y[32:40]), (x[40:], y[40:]), 2, epochs=3, batch_size=8,
                       seed=0)
ctx = context()
if ctx.is_main:
    out = {"weights": [p.detach().double().reshape(-1).tolist() for p in net.parameters()],
           "history": res["history"], "world": ctx.world}
    open(sys.argv[1], "w").write(json.dumps(out))
'''


def _torchrun(n: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=REPO)


def test_single_process_context_does_nothing() -> None:
    ctx = context()
    assert ctx == DistContext() and not ctx.active and ctx.all_mean(torch.tensor(2.0)).item() == 2.0
    assert ctx.any(True) and not ctx.any(False)


@pytest.mark.slow
def test_gradient_sync_needs_an_optimiser() -> None:
    class NoOpt:
        step = 0

    with pytest.raises(ValueError, match="no torch optimiser"):
        GradientSync(NoOpt(), DistContext(0, 2))

    class Two:
        def __init__(self) -> None:
            self.net = torch.nn.Linear(2, 2)
            self.opt = {"a": torch.optim.SGD(self.net.parameters(), lr=0.1)}

    assert len(task_optimizers(Two())) == 1


@pytest.mark.slow
def test_two_cpu_processes_train_the_same_classifier_as_one(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    one = _torchrun(1, str(script), str(tmp_path / "one.json"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = _torchrun(2, str(script), str(tmp_path / "two.json"))
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    assert (a["world"], b["world"]) == (1, 2)
    for wa, wb in zip(a["weights"], b["weights"], strict=True):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-5)
    for ha, hb in zip(a["history"], b["history"], strict=True):
        assert ha["epoch"] == hb["epoch"] and abs(ha["train_loss"] - hb["train_loss"]) < 1e-5
        assert ha["val_acc"] == hb["val_acc"]


@pytest.mark.slow
def test_torchrun_fakevision_train_began_rank0_checkpoints_and_resumes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (16, 16, 16, 3), dtype=np.uint8)
    data = tmp_path / "faces"
    data.mkdir()
    from fakevision.io.images import encode_image

    for i, f in enumerate(faces):
        (data / f"{i:02d}.png").write_bytes(encode_image(f))
    out = tmp_path / "out"
    common = ["-m", "fakevision", "train", "began", "--data", str(data), "--out", str(out), "--size", "16"]
    r = _torchrun(2, *common, "--steps", "3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "checkpoint.pt").is_file() and (out / "generator.safetensors").is_file()
    assert not list(out.rglob(".fvtmp-*"))
    st = torch.load(out / "checkpoint.pt", weights_only=False)
    assert st["task"]["step"] == 3
    one = tmp_path / "one"
    r1 = _torchrun(1, *common[:-4], "--out", str(one), "--size", "16", "--steps", "3")
    assert r1.returncode == 0, r1.stderr[-3000:]
    from safetensors.torch import load_file

    g1, g2 = load_file(one / "generator.safetensors"), load_file(out / "generator.safetensors")
    assert g1.keys() == g2.keys()
    for k in g1:  # the same global batch split over 2 ranks: the same generator as one process
        torch.testing.assert_close(g2[k], g1[k], rtol=0, atol=1e-5)
    r = _torchrun(2, *common, "--steps", "5")  # resumes from step 3 on both ranks
    assert r.returncode == 0, r.stderr[-3000:]
    st = torch.load(out / "checkpoint.pt", weights_only=False)
    assert st["task"]["step"] == 5 and [row["step"] for row in st["loop"]["logs"]][-1] == 5
