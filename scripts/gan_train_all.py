"""Train the shipped GAN set in one run: BEGAN (G, D) -> judges -> inverse generator E -> landmark generator L ->
VAC+GAN (gender) -> VAR+GAN (yaw proxy). Every phase has a wall-clock budget, so the whole run fits a fixed slot
(one GPU job of under 8 minutes); results are written as soon as each phase ends, so a killed run keeps them.

    # on a GPU machine (the bundle comes from scripts/gan_prepare_data.py)
    PYTHONPATH=src python3 scripts/gan_train_all.py --bundle out_gpu_data/faces64.safetensors --out $OUT --device cuda
    # tiny CPU smoke run
    python scripts/gan_train_all.py --bundle out_gpu_data/faces64.safetensors --out /tmp/g --device cpu --tiny

Writes: faces64.safetensors (G, E, L), vacgan_gender64.safetensors, vargan_yaw64.safetensors, judges.safetensors
(independent gender classifier + landmark regressor, trained on real faces only, for evaluation),
metrics.json (logs, M curve, speeds, budgets), grids.tar (sample grids during training).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch

from fakevision.gan.began import BEGANConfig, BEGANTrainer
from fakevision.gan.data import load_bundle, to_uint8, yaw_proxy
from fakevision.gan.data import to_unit_range
from fakevision.gan.independent import judge_widths, predict_landmarks, train_judge
from fakevision.gan.mapping import (InverseConfig, LandmarkConfig, encode, landmark_pairs, nme, train_inverse,
                                    train_landmarks)
from fakevision.gan.model import ConditionalGAN, FaceGAN, _save
from fakevision.gan.viz import draw_landmarks, image_grid
from fakevision.io.images import encode_image


class Run:
    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.metrics: dict = {"phases": {}}
        self.grids: dict[str, bytes] = {}
        self.t0 = time.perf_counter()

    def log(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:7.1f}s] {msg}", flush=True)

    def grid(self, name: str, images: np.ndarray, ncol: int = 8) -> None:
        self.grids[name] = encode_image(image_grid(images, ncol))
        self.flush()

    def flush(self) -> None:
        (self.out / "metrics.json").write_text(json.dumps(self.metrics, indent=1, sort_keys=True))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in sorted(self.grids.items()):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        (self.out / "grids.tar").write_bytes(buf.getvalue())


def diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between images (N x C x H x W): falls sharply when G collapses to one face."""
    flat = images.flatten(1).float()
    d = torch.cdist(flat, flat)
    n = len(flat)
    return float(d.sum() / (n * (n - 1)))


def train_began_phase(run: Run, name: str, cfg: BEGANConfig, images: np.ndarray, conds, seconds: float,
                      device: str, chunks: int, lr_drops: tuple[float, ...] = (0.6, 0.85),
                      grid_conds=None, keep_ratio: float = 0.75) -> BEGANTrainer:
    """Train in chunks, with a sample grid per chunk and a mode-collapse guard: G's weights are kept from the last
    chunk whose sample diversity is at least ``keep_ratio`` of the best seen (BEGAN collapsed after ~8k steps on
    1,207 faces in the first GPU run while k fell to 0), and restored at the end."""
    tr = BEGANTrainer(cfg, images, conds, device=device)
    rows: list[dict] = []
    t_start = time.perf_counter()
    real_div = diversity(tr.x[:64])
    best_div, kept, kept_step, divs = 0.0, None, 0, []
    for i in range(chunks):
        frac = i / chunks
        lr = cfg.lr * 0.5 ** sum(frac >= d for d in lr_drops)
        for o in tr.opt.values():
            for g in o.param_groups:
                g["lr"] = lr
        rows += tr.train(seconds=seconds / chunks)
        z = tr.fixed_z[:32]
        imgs = to_uint8(tr.generate(z) if grid_conds is None else tr.generate(z, grid_conds(32)))
        run.grid(f"{name}_step{tr.step:07d}.png", imgs)
        z64 = tr.fixed_z[:64]
        div = diversity(tr.generate(z64) if grid_conds is None else tr.generate(z64, grid_conds(64))) / real_div
        divs.append({"step": tr.step, "diversity_vs_real": div})
        best_div = max(best_div, div)
        if div >= keep_ratio * best_div:
            kept = {k: v.detach().clone() for k, v in tr.G.state_dict().items()}
            kept_step = tr.step
        last = rows[-1]
        run.log(f"{name} step {tr.step} lr {lr:.1e} L(x) {last['loss_real']:.4f} L(G(z)) {last['loss_fake']:.4f} "
                f"k {last['k']:.4f} M {last['M']:.4f} diversity/real {div:.3f}")
    dt = time.perf_counter() - t_start
    if kept is not None:
        tr.G.load_state_dict(kept)
    run.log(f"{name}: keeping G from step {kept_step}")
    run.metrics["phases"][name] = {"steps": tr.step, "seconds": dt, "steps_per_s": tr.step / dt, "kept_step":
                                   kept_step, "diversity": divs, "config": cfg.to_dict(), "log": rows}
    run.flush()
    return tr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="out_gpu_data/faces64.safetensors")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny nets, 32x32, seconds per phase")
    ap.add_argument("--budget", type=float, default=400.0, help="seconds of training over all phases")
    ap.add_argument("--phases", default="began,judges,inverse,vacgan,vargan",
                    help="comma-separated subset (inverse includes the landmark generator)")
    ap.add_argument("--gamma", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--n-gen", type=int, default=64, help="generator width (32: ~4x cheaper generation)")
    ap.add_argument("--judge-steps", type=int, default=0,
                    help="train the landmark judge for this many steps with similarity-warp augmentation and a "
                         "cosine schedule (0: the seconds budget, no augmentation, as in the first runs)")
    ap.add_argument("--lambda-landmarks", type=float, default=0.0, help="landmark-aware inversion: joint head")
    ap.add_argument("--lambda-geometry", type=float, default=0.0, help="landmark-aware inversion: judge on G(E(x))")
    ap.add_argument("--generator", default=None,
                    help="a FaceGAN bundle whose G to reuse (instead of the began phase) for the inverse phase")
    ap.add_argument("--variants", default=None,
                    help="E variants for the inverse phase, 'name:lambda_landmarks:lambda_geometry:lambda_cycle:"
                         "pseudo' comma-separated (pseudo = random z labelled by the judge on G(z) added to L's "
                         "pairs); each is saved as faces64_<name>.safetensors")
    ap.add_argument("--ablation", action="store_true",
                    help="also train the plain E (no landmark terms) on the same G and report both NMEs")
    a = ap.parse_args()
    dev = a.device
    if dev == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run = Run(Path(a.out))
    b = load_bundle(a.bundle)
    faces, lms, split = b["faces"], b["landmarks"].astype(np.float64), b["faces_split"]
    utk, gender = b.get("utk", faces[:0]), b.get("utk_gender", np.zeros(0, np.int64))
    size = faces.shape[1]
    if a.tiny:  # 32x32 by subsampling, tiny widths
        size = 32
        faces, utk, lms = faces[:, ::2, ::2].copy(), utk[:, ::2, ::2].copy(), lms / 2
    train, held = split == 0, split == 1
    n_gen, n_enc, n_e, n_j, batch, chunks = (8, 8, 8, 8, 8, 2) if a.tiny else (a.n_gen, 32, 32, 32, 64, 10)
    phases = set(a.phases.split(","))
    share = {"began": 170, "judge_lm": 25, "judge_gender": 15, "inverse": 50, "vacgan": 60, "vargan": 60}
    if "judges" not in phases and "inverse" in phases and a.judge_steps:
        share["judge_lm"] = 0  # the landmark judge is trained by steps inside the inverse phase
    if a.ablation and "inverse" in share:
        share["inverse"] *= 2  # two E variants share the phase
    share = {k: v for k, v in share.items() if k in phases or (k.startswith("judge") and "judges" in phases)}
    budget = {k: v * a.budget / sum(share.values()) for k, v in share.items()}
    run.metrics.update(device=str(torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"), size=size,
                       budget_s=budget, torch=torch.__version__, n_train=int(train.sum()), n_held=int(held.sum()))
    run.log(f"device {run.metrics['device']}, size {size}, train {train.sum()}, held-out {held.sum()}")
    run.grid("real.png", faces[train][:32])

    # 1. BEGAN on the training faces (helen_train + afw), flips on.
    cfg = BEGANConfig(size=size, n_gen=n_gen, n_enc=n_enc, batch=batch, lr=a.lr, gamma=a.gamma, lambda_k=1e-3,
                      log_every=100 if not a.tiny else 5)
    G = None
    if a.generator:
        loaded = FaceGAN.load(a.generator)
        G, cfg = loaded.G.eval(), loaded.began
    if "began" in phases:
        tr = train_began_phase(run, "began", cfg, faces[train], None, budget["began"], dev, chunks)
        G = tr.G.eval()
        del tr

    rng = np.random.default_rng(0)
    perm = rng.permutation(len(utk))
    g_tr, g_te = perm[: int(0.9 * len(utk))], perm[int(0.9 * len(utk)):]
    if "judges" in phases:
        train_judges(run, faces[train], lms[train], utk, gender, g_tr, g_te, budget, n_j, size, dev)
    if "inverse" in phases and G is not None:
        judge = None
        if a.judge_steps:
            judge = train_landmark_judge(run, faces[train], lms[train], faces[held], lms[held], a.judge_steps,
                                         n_j, size, dev)
        aware = bool(a.lambda_landmarks or a.lambda_geometry)
        variants = [("landmark_aware", a.lambda_landmarks, a.lambda_geometry, 1.0, 0)] if aware else \
            [("plain", 0.0, 0.0, 1.0, 0)]
        if aware and a.ablation:  # the seed's plain E first, the shipped (last) variant after it
            variants.insert(0, ("plain", 0.0, 0.0, 1.0, 0))
        if a.variants:
            variants = [(f[0], float(f[1]), float(f[2]), float(f[3]), int(f[4]))
                        for f in (v.split(":") for v in a.variants.split(","))]
        for name, lam_lm, lam_geo, lam_cyc, pseudo in variants:
            train_mapping(run, G, cfg, faces, lms, train, held, budget["inverse"] / len(variants), n_e, batch,
                          a.tiny, dev, judge=judge, lambda_landmarks=lam_lm, lambda_geometry=lam_geo,
                          lambda_cycle=lam_cyc, pseudo=pseudo, variant=name)
    if "vacgan" in phases:
        train_vacgan(run, utk, gender, g_tr, size, n_gen, n_enc, batch, budget, chunks, a.tiny, dev)
    if "vargan" in phases:
        train_vargan(run, faces[train], lms[train], size, n_gen, n_enc, batch, budget, chunks, a.tiny, dev)
    run.metrics["total_s"] = time.perf_counter() - run.t0
    run.flush()
    run.log("done")


def train_judges(run, faces, lms, utk, gender, g_tr, g_te, budget, n_j, size, dev) -> None:
    # 2. Judges on real faces only: landmark regressor (faces train split) and gender classifier (UTK, 90 % split).
    jl, log = train_judge(faces, lms, "landmarks", seconds=budget["judge_lm"], n=n_j, device=dev)
    run.metrics["phases"]["judge_landmarks"] = {"log": log}
    jg, log = train_judge(utk[g_tr], gender[g_tr], "class", seconds=budget["judge_gender"], n=n_j, num_outputs=2,
                          device=dev)
    run.metrics["phases"]["judge_gender"] = {"log": log, "test_index": g_te.tolist()}
    _save(run.out / "judges.safetensors", {"landmarks": jl.cpu(), "gender": jg.cpu()},
          {"kind": "judges", "size": str(size), "widths": json.dumps(list(judge_widths(size, n_j)))})
    run.log("judges trained")


def train_landmark_judge(run, faces, lms, held_faces, held_lms, steps, n_j, size, dev):
    """A landmark regressor on real training faces only (augmented, cosine schedule): the frozen judge that
    landmark-aware inversion uses. Its NME on held-out real faces is logged as its calibration."""
    t0 = time.perf_counter()
    jl, log = train_judge(faces, lms, "landmarks", steps=steps, n=n_j, augment=True, device=dev)
    held_nme = nme(predict_landmarks(jl, held_faces, device=dev), held_lms)
    run.metrics["phases"]["judge_landmarks_aug"] = {"log": log, "steps": steps, "seconds": time.perf_counter() - t0,
                                                    "held_out_nme": held_nme}
    _save(run.out / "judge_landmarks.safetensors", {"landmarks": jl.cpu()},
          {"kind": "judges", "size": str(size), "widths": json.dumps(list(judge_widths(size, n_j)))})
    run.log(f"landmark judge: {steps} steps, held-out NME {held_nme:.4f}")
    return jl.to(dev)


def train_mapping(run, G, cfg, faces, lms, train, held, seconds, n_e, batch, tiny, dev, judge=None,
                  lambda_landmarks=0.0, lambda_geometry=0.0, lambda_cycle=1.0, pseudo=0,
                  variant="plain") -> None:
    # 3. Inverse generator E (G frozen), then 4. landmark generator L on (E(x), landmarks(x)), train split only.
    icfg = InverseConfig(size=cfg.size, z_dim=cfg.z_dim, n=n_e, batch=batch, lambda_landmarks=lambda_landmarks,
                         lambda_geometry=lambda_geometry, lambda_cycle=lambda_cycle)
    G = G.to(dev)
    E, ilog = train_inverse(G, faces[train], icfg, seconds=seconds, device=dev, landmarks=lms[train],
                            judge=judge if lambda_geometry else None)
    z, y = landmark_pairs(E, faces[train], lms[train], device=dev)
    gz = torch.Generator().manual_seed(11)
    if pseudo and judge is not None:  # random z labelled by the real-face judge on G(z)
        zp = torch.rand(pseudo, cfg.z_dim, generator=gz) * 2 - 1
        with torch.no_grad():
            yp = torch.cat([judge(G(zp[i:i + 500].to(dev))).cpu() for i in range(0, pseudo, 500)]) + 0.5
        z, y = torch.cat([z, zp]), torch.cat([y, yp.view(pseudo, -1, 2)])
    lcfg = LandmarkConfig(z_dim=cfg.z_dim, hidden=64, weight_decay=1e-2, steps=200 if tiny else 4000)
    L, llog = train_landmarks(z, y, lcfg, device=dev)
    with torch.no_grad():
        zh = encode(E, faces[held], device=dev).to(dev)
        held_nme = nme(L(zh).cpu().numpy() * cfg.size, lms[held])
        rec_l1 = float((G(zh).clamp(-1, 1).cpu() - to_unit_range(faces[held])).abs().mean())
        zr = (torch.rand(1000, cfg.z_dim, generator=torch.Generator().manual_seed(12)) * 2 - 1).to(dev)
        lz_vs_judge = nme(L(zr).cpu().numpy(), (judge(G(zr)).cpu() + 0.5).view(1000, -1, 2).numpy()) \
            if judge is not None else None
        code_abs = float(zh.abs().mean())
    run.metrics["phases"][f"inverse_{variant}"] = {"log": ilog, "config": icfg.__dict__, "landmarks_log": llog,
                                                   "held_out_nme_L_of_E": held_nme, "held_out_recon_l1": rec_l1,
                                                   "nme_L_of_z_vs_judge_on_G_of_z": lz_vs_judge, "pseudo": pseudo,
                                                   "mean_abs_code": code_abs}
    run.log(f"{variant}: held-out NME L(E(x)) {held_nme:.4f}, recon L1 {rec_l1:.4f}, NME L(z) vs judge(G(z)) "
            f"{lz_vs_judge}, mean |E(x)| {code_abs:.3f} (random z: 0.5)")
    run.flush()
    gan = FaceGAN(G.cpu(), E.cpu(), L.cpu(), cfg, icfg, lcfg)
    gan.save(run.out / f"faces64_{variant}.safetensors")
    zz = torch.rand(32, cfg.z_dim, generator=torch.Generator().manual_seed(7)) * 2 - 1
    imgs, pts = gan.generate(zz)
    run.grid(f"faces_with_landmarks_{variant}.png", np.stack([draw_landmarks(i, p, 2) for i, p in zip(imgs, pts)]))
    held_faces = faces[held][:16]
    rec = to_uint8(G(gan.invert(held_faces)))
    run.grid(f"heldout_vs_reconstruction_{variant}.png", np.concatenate([held_faces, rec]))
    run.log(f"E recon l1 {ilog[-1]['recon_l1']:.4f}, L mse {llog[-1]['mse']:.6f}")


def train_vacgan(run, utk, gender, g_tr, size, n_gen, n_enc, batch, budget, chunks, tiny, dev) -> None:
    # 5. VAC+GAN: gender-conditional, on UTKFace (its 90 % training split).
    vcfg = BEGANConfig(size=size, n_gen=n_gen, n_enc=n_enc, batch=batch, lr=2e-4, cond="class", num_classes=2,
                       lambda_aux=0.2, log_every=100 if not tiny else 5)
    half = lambda n: torch.nn.functional.one_hot(torch.arange(n, device=dev) % 2, 2).float()  # noqa: E731
    vtr = train_began_phase(run, "vacgan", vcfg, utk[g_tr], gender[g_tr], budget["vacgan"], dev, chunks,
                            grid_conds=half)
    ConditionalGAN(vtr.G.cpu(), vcfg, {"classes": ["male", "female"], "data": "utkface_random_200"}).save(
        run.out / "vacgan_gender64.safetensors")


def train_vargan(run, faces, lms, size, n_gen, n_enc, batch, budget, chunks, tiny, dev) -> None:
    # 6. VAR+GAN: conditioned on the yaw proxy of the ground-truth landmarks (faces train split).
    yaw = yaw_proxy(lms).astype(np.float32)
    rcfg = BEGANConfig(size=size, n_gen=n_gen, n_enc=n_enc, batch=batch, lr=2e-4, cond="regress", cond_dim=1,
                       cond_flip_sign=(-1.0,), lambda_aux=0.3, log_every=100 if not tiny else 5)
    sweep = lambda n: torch.linspace(-0.8, 0.8, 8, device=dev).repeat(n // 8)[:, None]  # noqa: E731
    rtr = train_began_phase(run, "vargan", rcfg, faces, yaw, budget["vargan"], dev, chunks,
                            grid_conds=sweep)
    ConditionalGAN(rtr.G.cpu(), rcfg, {"condition": "yaw_proxy", "data": "faces_68pt train"}).save(
        run.out / "vargan_yaw64.safetensors")


if __name__ == "__main__":
    sys.exit(main())
