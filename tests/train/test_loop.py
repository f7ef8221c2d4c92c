"""The one training loop: budget, resume to the same bits, refusing foreign checkpoints, selection, logs, grids."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fakevision.core.errors import InputError
from fakevision.train.loop import LoopConfig, run_training


class Noisy:
    """A tiny regression whose every step draws from its own generator (so resume must restore it)."""

    def __init__(self, width: int = 4, fail_at: int | None = None, grid: bool = False) -> None:
        torch.manual_seed(0)
        self.net = torch.nn.Linear(3, width)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        self.gen = torch.Generator().manual_seed(1)
        self.step, self.width, self.fail_at, self.grid = 0, width, fail_at, grid
        self.val_scores = [0.5, 0.9, 0.9, 0.1, 0.3]

    def train_step(self) -> dict[str, torch.Tensor]:
        if self.fail_at is not None and self.step == self.fail_at:
            raise KeyboardInterrupt  # a kill between checkpoints
        x = torch.randn(8, 3, generator=self.gen)
        loss = (self.net(x) - x.sum(1, keepdim=True)).square().mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.step += 1
        return {"loss": loss.detach()}

    def validate(self) -> dict[str, float]:
        return {"score": self.val_scores[(self.step // 2 - 1) % len(self.val_scores)], "w0": float(self.net.bias[0].detach())}

    def fingerprint(self) -> str:
        return f"noisy-{self.width}"

    def sample_grid(self) -> np.ndarray | None:
        return np.full((4, 4, 3), self.step, np.uint8) if self.grid else None

    def state_dict(self) -> dict:
        return {"step": self.step, "net": self.net.state_dict(), "opt": self.opt.state_dict(),
                "gen": self.gen.get_state()}

    def load_state_dict(self, st: dict) -> None:
        self.step = st["step"]
        self.net.load_state_dict(st["net"])
        self.opt.load_state_dict(st["opt"])
        self.gen.set_state(st["gen"])


def _weights(task: Noisy) -> list[float]:
    return [float(v) for p in task.net.parameters() for v in p.detach().flatten()]


def test_interrupted_run_resumes_to_the_same_bits(tmp_path):
    unbroken = Noisy()
    run_training(unbroken, LoopConfig(steps=10, log_every=1))
    broken = Noisy(fail_at=5)
    with pytest.raises(KeyboardInterrupt):
        run_training(broken, LoopConfig(steps=10, out=tmp_path, checkpoint_every=2, log_every=1))
    resumed = Noisy()
    res = run_training(resumed, LoopConfig(steps=10, out=tmp_path, checkpoint_every=2, log_every=1))
    assert res.resumed_from == 4 and res.step == 10
    assert _weights(resumed) == _weights(unbroken)
    assert [r["step"] for r in res.logs] == list(range(1, 11))
    rows = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 11))


def test_steps_are_a_total_and_seconds_a_budget_of_this_call(tmp_path):
    a = Noisy()
    assert run_training(a, LoopConfig(steps=3, out=tmp_path)).step == 3
    b = Noisy()
    res = run_training(b, LoopConfig(steps=3, out=tmp_path))  # already there: nothing to do
    assert res.step == 3 and res.resumed_from == 3 and _weights(a) == _weights(b)
    c = Noisy()
    res = run_training(c, LoopConfig(seconds=0.0))
    assert res.step == 0 and res.stopped_by == "seconds"


def test_a_checkpoint_of_another_configuration_or_a_foreign_file_is_refused(tmp_path):
    run_training(Noisy(width=4), LoopConfig(steps=2, out=tmp_path))
    with pytest.raises(InputError, match="different configuration") as e:
        run_training(Noisy(width=5), LoopConfig(steps=4, out=tmp_path))
    assert "checkpoint.pt" in str(e.value)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        run_training(Noisy(), LoopConfig(steps=4, out=tmp_path))


def test_selection_keeps_the_best_validation_and_ties_go_to_the_later_one():
    task = Noisy()
    res = run_training(task, LoopConfig(steps=10, validate_every=2, select=("score", "max")))
    scores = [v["score"] for v in res.validations]
    assert scores == [0.5, 0.9, 0.9, 0.1, 0.3]
    assert res.best is not None and res.best["step"] == 6  # the later of the two 0.9s
    assert float(task.net.bias[0].detach()) == res.best["w0"]  # the task ends holding those weights


def test_sample_grids_are_written_at_checkpoints(tmp_path):
    run_training(Noisy(grid=True), LoopConfig(steps=5, out=tmp_path, checkpoint_every=2))
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step_0000002.png", "step_0000004.png", "step_0000005.png"]


def test_bad_budgets_and_a_step_that_does_not_advance_fail_clearly():
    with pytest.raises(ValueError, match="steps or seconds"):
        LoopConfig()
    with pytest.raises(ValueError, match="direction"):
        LoopConfig(steps=1, select=("x", "up"))  # type: ignore[arg-type]

    class Stuck(Noisy):
        def train_step(self):  # forgets to count
            return {"loss": 0.0}

    with pytest.raises(RuntimeError, match="advance step"):
        run_training(Stuck(), LoopConfig(steps=2))
