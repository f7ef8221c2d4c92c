"""BEGAN training: the k_t / M equations, one step against them, exact resume, sizes, conditional variants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakevision.core.errors import InputError
from fakevision.gan.began import BEGANConfig, BEGANTrainer, convergence, update_k
from fakevision.gan.nets import AutoEncoder, Decoder, num_scales
from fakevision.train.loop import LoopConfig, run_training

TINY = dict(size=16, z_dim=8, h_dim=8, n_gen=8, n_enc=4, batch=4, log_every=1)


def faces(n: int = 12, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_update_k_hand_computed_and_clipped() -> None:
    # k + lambda_k * (gamma * L(x) - L(G(z))) = 0.3 + 0.01 * (0.7 * 0.2 - 0.1) = 0.3004
    assert update_k(0.3, 0.2, 0.1, gamma=0.7, lambda_k=0.01) == pytest.approx(0.3004)
    assert update_k(0.999, 1.0, 0.0, gamma=1.0, lambda_k=0.5) == 1.0
    assert update_k(0.001, 0.0, 1.0, gamma=0.5, lambda_k=0.5) == 0.0
    t = update_k(torch.tensor(0.3), torch.tensor(0.2), torch.tensor(0.1), 0.7, 0.01)
    assert float(t) == pytest.approx(0.3004, abs=1e-7)
    assert convergence(0.2, 0.3, 0.5) == pytest.approx(0.2 + 0.2)


def test_train_step_follows_the_equations() -> None:
    cfg = BEGANConfig(**TINY, k0=0.25, lambda_k=0.05, gamma=0.4)
    tr = BEGANTrainer(cfg, faces())
    out = tr.train_step()
    lx, lg = float(out["loss_real"]), float(out["loss_fake"])
    assert float(out["k"]) == pytest.approx(min(max(0.25 + 0.05 * (0.4 * lx - lg), 0), 1), abs=1e-6)
    assert float(out["M"]) == pytest.approx(lx + abs(0.4 * lx - lg), abs=1e-6)
    assert tr.step == 1


def test_d_gradient_is_real_minus_k_fake() -> None:
    """The one-backward trick gives D the gradient of L(x) - k L(G(z)) and G the gradient of L(G(z))."""
    cfg = BEGANConfig(**TINY, k0=0.3)
    tr = BEGANTrainer(cfg, faces())
    torch.manual_seed(1)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    z = torch.rand(4, 8) * 2 - 1
    fake = tr.G(z)
    lf = (tr.D(fake) - fake).abs().mean()
    lr_ = (tr.D(x) - x).abs().mean()
    d_params = list(tr.D.parameters())
    want = torch.autograd.grad(lr_ - 0.3 * lf, d_params, retain_graph=True)
    want_g = torch.autograd.grad(lf, list(tr.G.parameters()), retain_graph=True)
    for p in list(tr.D.parameters()) + list(tr.G.parameters()):
        p.grad = None
    lf.backward(retain_graph=True)
    for p in d_params:
        p.grad.mul_(-tr.k)
    lr_.backward()
    for p, w in zip(d_params, want):
        torch.testing.assert_close(p.grad, w, rtol=1e-4, atol=1e-6)
    for p, w in zip(tr.G.parameters(), want_g):
        torch.testing.assert_close(p.grad, w, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cond", ["none", "class"])
def test_resume_from_checkpoint_continues_identically(tmp_path, cond: str) -> None:
    """The trainer's state_dict holds everything the next step depends on: a run stopped after 3 steps and
    resumed from its checkpoint by the training loop ends with the same weights, k and log as an unbroken run."""
    cfg = BEGANConfig(**TINY, cond=cond)
    conds = np.arange(12) % 2 if cond == "class" else None
    a = BEGANTrainer(cfg, faces(), conds)
    log_a = run_training(a, LoopConfig(steps=6, log_every=1)).logs
    run_training(BEGANTrainer(cfg, faces(), conds), LoopConfig(steps=3, out=tmp_path, log_every=1))
    b = BEGANTrainer(cfg, faces(), conds)
    res = run_training(b, LoopConfig(steps=6, out=tmp_path, log_every=1))
    assert res.resumed_from == 3 and b.step == a.step == 6
    assert res.logs == log_a
    for (n, p), (_, q) in zip(a.G.state_dict().items(), b.G.state_dict().items()):
        assert torch.equal(p, q), n
    assert float(a.k) == float(b.k)


def test_checkpoint_of_other_config_is_refused(tmp_path) -> None:
    run_training(BEGANTrainer(BEGANConfig(**TINY), faces()), LoopConfig(steps=1, out=tmp_path))
    b = BEGANTrainer(BEGANConfig(**{**TINY, "gamma": 0.7}), faces())
    with pytest.raises(InputError, match="different configuration"):
        run_training(b, LoopConfig(steps=2, out=tmp_path))
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="checkpoint.pt"):
        run_training(b, LoopConfig(steps=2, out=tmp_path))


@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_generator_and_discriminator_shapes(size: int) -> None:
    cfg = BEGANConfig(size=size, z_dim=4, h_dim=4, n_gen=4, n_enc=2)
    G = Decoder(size, 4, cfg.gen_widths)
    D = AutoEncoder(size, 4, cfg.enc_widths, cfg.gen_widths)
    img = G(torch.zeros(2, 4))
    assert img.shape == (2, 3, size, size)
    assert D(img).shape == img.shape
    assert len(cfg.gen_widths) == num_scales(size)


def test_bad_sizes_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="8 \\* 2\\^k"):
        BEGANConfig(size=48)
    with pytest.raises(ValueError, match="N x 16 x 16 x 3"):
        BEGANTrainer(BEGANConfig(**TINY), faces(size=32))
    with pytest.raises(ValueError, match="needs conds"):
        BEGANTrainer(BEGANConfig(**TINY, cond="class"), faces())


def test_vargan_step_uses_regressor_and_flip_sign() -> None:
    cfg = BEGANConfig(**TINY, cond="regress", cond_dim=1, cond_flip_sign=(-1.0,))
    yaw = np.linspace(-1, 1, 12).astype(np.float32)
    tr = BEGANTrainer(cfg, faces(), yaw)
    out = tr.train_step()
    assert {"aux_real", "aux_fake"} <= out.keys()
    assert tr.A is not None and tr.A.fc.out_features == 1
    # flipped real batches negate the yaw: over many draws both signs of each |yaw| appear
    seen = set()
    for _ in range(30):
        _, c = tr._real_batch()
        seen |= {round(float(v), 4) for v in c[:, 0]}
    assert any(-v in seen for v in seen if v > 0.1)


def test_aux_classifier_learns_a_separable_label() -> None:
    """VAC+GAN's auxiliary classifier, trained inside the GAN loop, must learn a label that is plain in the pixels."""
    x = np.zeros((16, 16, 16, 3), np.uint8)
    y = np.arange(16) % 2
    x[y == 1] = 255
    cfg = BEGANConfig(**{**TINY, "batch": 8}, cond="class", lr=3e-3, flip=False, n_aux=4)
    tr = BEGANTrainer(cfg, x, y)
    run_training(tr, LoopConfig(steps=15))
    with torch.no_grad():
        pred = tr.A(tr.x).argmax(1).numpy()
    assert (pred == y).mean() == 1.0


def test_learning_rate_halves_at_each_milestone() -> None:
    tr = BEGANTrainer(BEGANConfig(**{**TINY, "lr": 1e-3, "lr_milestones": (2, 4)}), faces())
    seen = []
    for _ in range(5):
        tr.train_step()
        seen.append(tr.opt["G"].param_groups[0]["lr"])
    assert seen == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])


def test_collapse_guard_keeps_g_from_the_last_diverse_validation(tmp_path) -> None:
    """With keep_diverse 1.0 the guard keeps G from the last validation that set a new diversity record: the G the
    run ends with equals an unguarded run's G stopped at that step."""
    cfg = BEGANConfig(**{**TINY, "keep_diverse": 1.0})
    tr = BEGANTrainer(cfg, faces())
    res = run_training(tr, LoopConfig(steps=6, validate_every=1, select=("keep", "max")))
    kept = [v for v in res.validations if v["keep"] == 1.0][-1]
    assert res.best is not None and res.best["step"] == kept["step"]
    divs = [v["diversity_vs_real"] for v in res.validations]
    assert kept["diversity_vs_real"] == max(divs)
    ref = BEGANTrainer(cfg, faces())
    run_training(ref, LoopConfig(steps=int(kept["step"])))
    for (n, p), q in zip(tr.G.state_dict().items(), ref.G.state_dict().values()):
        assert torch.equal(p, q), n
