"""Distilling the fast generator: an interrupted run resumes to exactly the weights of an unbroken one, and a
checkpoint from other settings is refused by name."""

from __future__ import annotations

import pytest
import torch

from fakevision.core.errors import InputError
from fakevision.gan.began import BEGANConfig, build_generator
from fakevision.gan.distill import distill_generator

CFG = BEGANConfig(size=16, z_dim=8, n_gen=8)


class Interrupt(Exception):
    pass


class FailsAfter(torch.nn.Module):
    """The teacher, but the ``n``-th forward raises (a Ctrl-C in the middle of a run)."""

    def __init__(self, net: torch.nn.Module, n: int) -> None:
        super().__init__()
        self.net, self.n, self.calls = net, n, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.n:
            raise Interrupt
        return self.net(z)


def test_interrupted_distillation_resumes_to_the_same_weights(tmp_path) -> None:
    torch.manual_seed(0)
    teacher = build_generator(CFG)
    kw = dict(n_gen=4, steps=6, batch=4, log_every=2)
    straight, _, log = distill_generator(teacher, CFG, **kw)
    out = tmp_path / "run"
    ck = out / "checkpoint.pt"
    with pytest.raises(Interrupt):  # validation forward + 4 steps; the 5th step's teacher call fails
        distill_generator(FailsAfter(teacher, 6), CFG, out=out, ckpt_every=2, **kw)
    assert torch.load(ck, weights_only=False)["task"]["step"] == 4
    resumed, _, log2 = distill_generator(teacher, CFG, out=out, ckpt_every=2, **kw)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert [r["step"] for r in log2] == [r["step"] for r in log] == [0, 2, 4, 6]
    assert [r["val_l1"] for r in log2] == [r["val_l1"] for r in log]
    with pytest.raises(InputError, match="different configuration"):
        distill_generator(teacher, CFG, out=out, **{**kw, "batch": 8})
    ck.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="checkpoint.pt"):
        distill_generator(teacher, CFG, out=out, **kw)
