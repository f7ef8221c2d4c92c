"""GAN speed: BEGAN training steps/s and face generation images/s, ours vs a plain PyTorch loop of the same nets,
measured in the same run and interleaved (best of ``--repeats``), so load from other processes hits both alike.

Run (from the repository root)::

    nice -n 19 python benchmarks/gan.py                      # 64x64, batch 16, CPU, ~2 min on 2 shared cores
    python benchmarks/gan.py --size 32 --steps 5             # quick look
    python benchmarks/gan.py --device cuda --batch 64        # on a GPU machine

Training: ``BEGANTrainer.train_step`` (simultaneous G/D update from two D forwards, one backward each) against
the textbook loop most BEGAN ports use (a D update on real + detached fake, then a G update through a third D
forward), with the shipped model's widths. Generation: ``FaceGAN.generate`` (G and the landmark generator L,
uint8 out) against a plain ``G(z)`` loop with no landmarks, and the ``gan_faces`` source's one-face-at-a-time
``make`` (what ``fakevision make`` calls); once with the full G and once with the distilled fast generator F
(the default of ``gan_faces``), each against plain loops of the same net and of the full G.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from fakevision.gan.began import BEGANConfig, BEGANTrainer
from fakevision.gan.model import FaceGAN


def plain_began_step(G, D, optG, optD, x, z_dim, k, gamma, lambda_k):
    """The reference: a straightforward BEGAN step, written as in common PyTorch ports."""
    z = torch.rand(x.shape[0], z_dim, device=x.device) * 2 - 1
    fake = G(z)
    optD.zero_grad()
    loss_real = (D(x) - x).abs().mean()
    loss_fake_d = (D(fake.detach()) - fake.detach()).abs().mean()
    (loss_real - k * loss_fake_d).backward()
    optD.step()
    optG.zero_grad()
    loss_g = (D(fake) - fake).abs().mean()
    loss_g.backward()
    optG.step()
    k = min(max(k + lambda_k * (gamma * loss_real.item() - loss_g.item()), 0.0), 1.0)
    return k


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench_training(args) -> dict:
    shipped = FaceGAN.load().began
    cfg = BEGANConfig(size=args.size, n_gen=shipped.n_gen, n_enc=shipped.n_enc, batch=args.batch,
                      z_dim=shipped.z_dim, h_dim=shipped.h_dim)
    images = np.random.default_rng(0).integers(0, 256, (256, args.size, args.size, 3), dtype=np.uint8)
    ours = BEGANTrainer(cfg, images, device=args.device)
    ref = BEGANTrainer(cfg, images, device=args.device)  # same nets, driven by the plain loop
    optG = torch.optim.Adam(ref.G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    optD = torch.optim.Adam(ref.D.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    x_all = ref.x
    k = 0.0
    best = {"ours": float("inf"), "plain": float("inf")}
    ours.train_step()  # warm-up both
    k = plain_began_step(ref.G, ref.D, optG, optD, x_all[: cfg.batch], cfg.z_dim, k, cfg.gamma, cfg.lambda_k)
    for _ in range(args.repeats):
        sync(args.device)
        t = time.perf_counter()
        for _ in range(args.steps):
            ours.train_step()
        float(ours.k)  # force completion on GPU
        sync(args.device)
        best["ours"] = min(best["ours"], (time.perf_counter() - t) / args.steps)
        t = time.perf_counter()
        for _ in range(args.steps):
            idx = torch.randint(0, len(x_all), (cfg.batch,), device=x_all.device)
            k = plain_began_step(ref.G, ref.D, optG, optD, x_all[idx], cfg.z_dim, k, cfg.gamma, cfg.lambda_k)
        sync(args.device)
        best["plain"] = min(best["plain"], (time.perf_counter() - t) / args.steps)
    return {"steps_per_s_ours": 1 / best["ours"], "steps_per_s_plain": 1 / best["plain"],
            "ratio_ours_over_plain": best["plain"] / best["ours"], "batch": cfg.batch, "size": cfg.size}


def bench_generation(args, fast: bool) -> dict:
    """``fast``: the bundle's distilled generator F (what ``gan_faces`` uses by default) against a plain loop of the
    same F; the plain loop of the full G is measured in the same run too, so the speed-up is against it."""
    gan = FaceGAN.load()
    G = (gan.F if fast else gan.G).to(args.device)
    L, G_full = gan.L.to(args.device), gan.G.to(args.device)
    n, bs = args.gen_n, args.gen_batch
    z = torch.rand(n, gan.z_dim, device=args.device) * 2 - 1
    best = {"ours": float("inf"), "plain": float("inf"), "plain_full_G": float("inf")}
    with torch.inference_mode():
        G(z[:bs])
        for _ in range(args.repeats):
            sync(args.device)
            t = time.perf_counter()
            for i in range(0, n, bs):
                zz = z[i:i + bs]
                if args.device == "cpu":  # the public API: uint8 faces + landmarks as NumPy arrays
                    faces, lm = gan.generate(zz, fast=fast)
                    faces, lm = torch.from_numpy(faces), torch.from_numpy(lm)
                else:
                    faces = G(zz).clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
                    lm = L(zz).cpu() * gan.size
            sync(args.device)
            best["ours"] = min(best["ours"], time.perf_counter() - t)
            for key, net in (("plain", G), ("plain_full_G", G_full)):
                t = time.perf_counter()
                for i in range(0, n, bs):
                    out = net(z[i:i + bs]).cpu()
                sync(args.device)
                best[key] = min(best[key], time.perf_counter() - t)
    assert faces.dtype == torch.uint8 and lm.shape[1:] == (68, 2) and out.shape[1] == 3
    res = {"images_per_s_with_landmarks": n / best["ours"], "images_per_s_plain_same_G": n / best["plain"],
           "images_per_s_plain_full_G": n / best["plain_full_G"],
           "ratio_ours_over_plain_same_G": best["plain"] / best["ours"],
           "ratio_ours_over_plain_full_G": best["plain_full_G"] / best["ours"], "batch": bs}
    if args.device == "cpu":
        from fakevision.core.source import make_sample
        from fakevision.gan.source import GanFacesConfig, build_gan_faces

        src = build_gan_faces(GanFacesConfig(count=64, generator="fast" if fast else "full"))
        t = time.perf_counter()
        for i in range(64):
            make_sample(src, i)
        res["source_make_per_s"] = 64 / (time.perf_counter() - t)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gen-n", type=int, default=1024)
    ap.add_argument("--gen-batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    info = {"device": args.device if args.device == "cpu" else torch.cuda.get_device_name(0),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "machine": platform.machine()}
    res = {"info": info, "generation_full_G": bench_generation(args, fast=False),
           "generation_fast_F": bench_generation(args, fast=True)}
    if not args.skip_training:
        res["training"] = bench_training(args)
    print(json.dumps(res, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
