"""Refine the shipped faces model in one prepared GPU run (fourth GPU session): three independent phases, each
with its own wall-clock budget and its results written as soon as it ends, so a killed run keeps what finished.

1. ``invert``: hybrid inversion (E's code as the start, then Adam on z with G frozen, z kept in G's range
   (-1, 1)). Pixel L1 alone, or plus a geometry term |judge(G(z)) - judge(x)| where the judge is the landmark
   regressor trained on real faces only (it needs no ground truth, so it is fair on held-out faces too). Writes
   the optimised codes of every training face, its mirror image and every held-out face (``codes_<variant>.npz``)
   so L can be refitted and checked with dlib on the CPU; logs a quick GPU fit of L and its NMEs.
2. ``distill``: a narrow generator S (n_gen 32, ~4x cheaper) trained to reproduce the shipped G on random z
   (pixel L1 + image-gradient L1 + |judge(S(z)) - judge(G(z))|). S lives in G's z space, so the shipped E and L
   stay valid and every fast face still comes with L(z). Writes ``faces64_fast32.safetensors`` (G, E, L, F).
   (The library's ``fakevision.gan.distill`` / ``fakevision train fast`` does the same without the judge term.)
3. ``began128``: BEGAN at 128x128 on the training faces (JPEG bundle from this script's ``--prepare128``),
   with the collapse guard of ``gan_train_all.py``. Writes ``began128_generator.safetensors`` and sample grids.

    python scripts/gan_refine.py --prepare128 ../shared/data out_gpu4/faces128_train_jpg.npz   # CPU, 2 s
    PYTHONPATH=src python3 scripts/gan_refine.py --bundle out_gpu_data/faces64_lm.safetensors \
        --judge out_gan/gpu3/judge_landmarks.safetensors --faces128 out_gpu4/faces128_train_jpg.npz \
        --out $OUT --device cuda
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from fakevision.gan.began import BEGANConfig
from fakevision.gan.data import flip_landmarks, load_bundle, to_uint8, to_unit_range
from fakevision.gan.distill import distill_generator
from fakevision.gan.mapping import LandmarkConfig, encode, nme, refine_codes, train_landmarks
from fakevision.gan.model import FaceGAN, _load, _save
from fakevision.gan.nets import Encoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gan_train_all import Run, train_began_phase  # noqa: E402


def load_judge(path: str, device: str) -> torch.nn.Module:
    parts, meta = _load(path)
    net = Encoder(int(meta["size"]), 136, tuple(json.loads(meta["widths"])))
    net.load_state_dict(parts["landmarks"])
    net.eval().to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def judge_rel(judge: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Relative landmarks (B x 68 x 2) the judge finds on images in [-1, 1]."""
    return (judge(x) + 0.5).view(len(x), -1, 2)


def phase_invert(run: Run, gan: FaceGAN, judge, faces, lms, split, dev: str, steps: int, variants) -> None:
    train, held = split == 0, split == 1
    size = gan.size
    tr_faces = np.concatenate([faces[train], faces[train][:, :, ::-1]])
    tr_lms = np.concatenate([lms[train], flip_landmarks(lms[train], size)])
    G = gan.G.to(dev).eval()
    E = gan.E.to(dev)
    res = {}
    for name, lam_geo, lr in variants:
        t0 = time.perf_counter()
        codes = {}
        for part, imgs in (("train", tr_faces), ("held", faces[held])):
            z0 = encode(E, imgs, device=dev).to(dev)
            codes[part] = (refine_codes(G, imgs, z0, steps, lr, judge=judge, lambda_geometry=lam_geo, device=dev)
                           .to(dev) if steps else z0.clamp(-1, 1))
        dt = time.perf_counter() - t0
        with torch.no_grad():
            xh = to_unit_range(faces[held]).to(dev)
            rec = float((G(codes["held"]).clamp(-1, 1) - xh).abs().mean())
        L, _ = train_landmarks(codes["train"].cpu(), torch.as_tensor(tr_lms / size, dtype=torch.float32),
                               LandmarkConfig(z_dim=gan.z_dim, hidden=64, weight_decay=1e-2, steps=4000), device=dev)
        with torch.no_grad():
            l_held = nme(L(codes["held"]).cpu().numpy() * size, lms[held])
            zr = (torch.rand(1000, gan.z_dim, generator=torch.Generator().manual_seed(12)) * 2 - 1).to(dev)
            l_rand = nme(L(zr).cpu().numpy(), judge_rel(judge, G(zr)).cpu().numpy())
            jh = nme(judge_rel(judge, G(codes["held"])).cpu().numpy() * size, lms[held])
        res[name] = {"lambda_geometry": lam_geo, "lr": lr, "steps": steps, "seconds": dt, "recon_l1_held": rec,
                     "nme_L_of_code_held_vs_gt": l_held, "nme_L_of_z_vs_judge_on_G_of_z": l_rand,
                     "nme_judge_on_G_of_code_held_vs_gt": jh, "mean_abs_code_held": float(codes["held"].abs().mean())}
        np.savez(run.out / f"codes_{name}.npz", train=codes["train"].cpu().numpy(), held=codes["held"].cpu().numpy(),
                 train_landmarks=tr_lms.astype(np.float32))
        run.log(f"invert {name}: {json.dumps(res[name])}")
        run.grid(f"invert_{name}_heldout_vs_reconstruction.png",
                 np.concatenate([faces[held][:16], to_uint8(G(codes['held'][:16]))]))
        run.metrics["phases"].setdefault("invert", {})[name] = res[name]
        run.flush()


def phase_distill(run: Run, gan: FaceGAN, judge, dev: str, seconds: float, n_gen: int, batch: int = 256) -> None:
    S, cfg, rows = distill_generator(gan.G, gan.began, n_gen=n_gen, seconds=seconds, batch=batch, judge=judge,
                                     device=dev)
    zval = torch.rand(1024, gan.z_dim, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.no_grad():
        G = gan.G.cpu()
        t, s = G(zval).clamp(-1, 1), S(zval).clamp(-1, 1)
        jt, js = judge_rel(judge.cpu(), t), judge_rel(judge, s)
    judge.to(dev)
    last = {**rows[-1], "val_nme_judge_S_vs_T": nme(js.numpy(), jt.numpy())}
    run.log(f"distill n_gen {n_gen}: {last}")
    FaceGAN(G, gan.E.cpu(), gan.L.cpu(), gan.began, gan.inverse, gan.landmark, S, cfg).save(
        run.out / f"faces64_fast{n_gen}.safetensors")
    zz = zval[:32]
    with torch.no_grad():
        run.grid(f"distill{n_gen}_teacher_vs_student.png", np.concatenate([to_uint8(G(zz)), to_uint8(S(zz))]))
    run.metrics["phases"][f"distill{n_gen}"] = {"seconds": seconds, "log": rows, "last": last,
                                                "config": cfg.to_dict()}
    run.flush()


def load_jpegs(path: str) -> np.ndarray:
    import cv2

    d = np.load(path)
    blob, ends = d["blob"], np.cumsum(d["lens"])
    starts = ends - d["lens"]
    return np.stack([cv2.imdecode(blob[s:e], cv2.IMREAD_COLOR)[:, :, ::-1] for s, e in zip(starts, ends)])


def prepare128(data_root: str, out: str) -> None:
    import cv2

    from fakevision.gan.data import load_faces_68pt

    faces, _, split = load_faces_68pt(Path(data_root) / "faces_68pt", 128)
    enc = [cv2.imencode(".jpg", f[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for f in faces[split == 0]]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, blob=np.frombuffer(b"".join(enc), np.uint8), lens=np.array([len(e) for e in enc]))
    print(f"{len(enc)} training faces at 128x128 -> {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prepare128", nargs=2, metavar=("DATA", "OUT"))
    ap.add_argument("--bundle", default="out_gpu_data/faces64_lm.safetensors")
    ap.add_argument("--weights", default=None, help="FaceGAN bundle to refine (default: the shipped one)")
    ap.add_argument("--judge", default="out_gan/gpu3/judge_landmarks.safetensors")
    ap.add_argument("--faces128", default=None)
    ap.add_argument("--out", default="out_gpu4/run")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--phases", default="invert,distill,began128")
    ap.add_argument("--invert-variants", default="E_only:0:0:0,pixel:0:0.02:300,pixel_geometry:1:0.02:300",
                    help="name:lambda_geometry:lr:steps, comma-separated (steps 0: E's codes as they are)")
    ap.add_argument("--distill-seconds", type=float, default=110)
    ap.add_argument("--distill-widths", default="32")
    ap.add_argument("--began128-seconds", type=float, default=170)
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run: few faces, few steps, a few seconds each")
    a = ap.parse_args()
    if a.prepare128:
        prepare128(*a.prepare128)
        return
    dev = a.device
    if dev == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    run = Run(Path(a.out))
    gan = FaceGAN.load(a.weights)
    judge = load_judge(a.judge, dev)
    b = load_bundle(a.bundle)
    faces, lms, split = b["faces"], b["landmarks"].astype(np.float64), b["faces_split"]
    if a.tiny:
        keep = np.r_[np.flatnonzero(split == 0)[:40], np.flatnonzero(split == 1)[:20]]
        faces, lms, split = faces[keep], lms[keep], split[keep]
    phases = a.phases.split(",")
    run.metrics.update(device=str(torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"), torch=torch.__version__)
    if "invert" in phases:
        for v in a.invert_variants.split(","):
            name, lam, lr, steps = v.split(":")
            phase_invert(run, gan, judge, faces, lms, split, dev, min(int(steps), 3) if a.tiny else int(steps),
                         [(name, float(lam), float(lr))])
    if "distill" in phases:
        for w in a.distill_widths.split(","):
            phase_distill(run, gan, judge, dev, 3 if a.tiny else a.distill_seconds, int(w),
                          batch=8 if a.tiny else 256)
    if "began128" in phases and a.faces128:
        f128 = load_jpegs(a.faces128)
        if a.tiny:
            f128 = f128[:16, ::4, ::4].copy()
        size = f128.shape[1]
        cfg = BEGANConfig(size=size, n_gen=8 if a.tiny else 64, n_enc=8 if a.tiny else 32, batch=8 if a.tiny else 32,
                          lr=1e-4, gamma=0.5, log_every=100)
        tr = train_began_phase(run, "began128", cfg, f128, None, 4 if a.tiny else a.began128_seconds, dev,
                               2 if a.tiny else 8)
        _save(run.out / "began128_generator.safetensors", {"G": tr.G.cpu()},
              {"kind": "generator", "began": json.dumps(cfg.to_dict(), sort_keys=True)})
    run.metrics["total_s"] = time.perf_counter() - run.t0
    run.flush()
    run.log("done")


if __name__ == "__main__":
    main()
