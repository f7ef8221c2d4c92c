"""Measure the shipped GAN set on the CPU: E's reconstruction error, NME of L(E(x)) and of L(z), FID/KID,
memorisation, VAC+GAN class accuracy and VAR+GAN condition error. Writes a JSON file and viewable grids.

    nice -n 19 python experiments/gan_evaluate.py --bundle out_gpu_data/faces64.safetensors \
        --judges out_gan/judges/judges/judges.safetensors --out out_gan/eval

``--judges``: the independent gender classifier and landmark regressor trained on real faces only (the held-out
faces and the UTK test split never reach them): ``fakevision train judges64 --out out_gan/judges``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from fakevision.evaluate.distances import fid_from_features, kid_from_features
from fakevision.evaluate.features import get_extractor
from fakevision.evaluate.memorisation import memorisation_check
from fakevision.gan.data import load_bundle, to_uint8, yaw_proxy
from fakevision.gan.independent import load_judges, predict, predict_landmarks
from fakevision.gan.mapping import nme
from fakevision.gan.model import VACGAN_FILE, VARGAN_FILE, ConditionalGAN, FaceGAN
from fakevision.gan.viz import draw_landmarks, image_grid
from fakevision.io.images import encode_image


def batched_generate(fn, z: torch.Tensor, *args, batch: int = 200):
    outs = [fn(z[i:i + batch], *(a[i:i + batch] for a in args)) for i in range(0, len(z), batch)]
    if isinstance(outs[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*outs))
    return np.concatenate(outs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="out_gpu_data/faces64.safetensors")
    ap.add_argument("--judges", default="out_gan/judges/judges/judges.safetensors")
    ap.add_argument("--out", default="out_gan/eval")
    ap.add_argument("--n", type=int, default=1000, help="generated faces per measurement")
    ap.add_argument("--fast", action="store_true", help="generate with the bundle's distilled fast generator F")
    ap.add_argument("--truncation", type=float, default=1.0, help="z ~ U(-t, t) for the generated faces")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared machine)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {}
    b = load_bundle(a.bundle)
    faces, lms, split = b["faces"], b["landmarks"].astype(np.float64), b["faces_split"]
    train, held = faces[split == 0], faces[split == 1]
    lm_train, lm_held = lms[split == 0], lms[split == 1]
    gan = FaceGAN.load()
    judges, judge_meta = load_judges(a.judges)
    size = gan.size
    g = torch.Generator().manual_seed(2024)
    z = (torch.rand(a.n, gan.z_dim, generator=g) * 2 - 1) * a.truncation

    # Inverse generator: reconstruction on held-out vs training faces (L1 in [-1, 1] pixel units, and PSNR).
    t0 = time.perf_counter()
    for name, x in (("held_out", held), ("train", train[:330])):
        zx = gan.invert(x)
        rec = batched_generate(lambda zz: to_uint8(gan.G(zz)), zx)
        err = np.abs(rec.astype(np.float64) - x) / 127.5
        mse = ((rec.astype(np.float64) - x) ** 2).mean()
        res[f"inverse_recon_{name}"] = {"l1": float(err.mean()), "psnr_db": float(10 * np.log10(255**2 / mse)),
                                        "n": len(x)}
        if name == "held_out":
            pred = gan.L(zx).double().numpy() * size
            res["nme_L_of_E_held_out"] = nme(pred, lm_held)
            zx_held = zx
    res["nme_L_of_E_train"] = nme(gan.L(gan.invert(train)).double().numpy() * size, lm_train)
    res["nme_mean_shape_baseline_held_out"] = nme(np.broadcast_to(lm_train.mean(0), lm_held.shape), lm_held)
    res["nme_judge_on_real_held_out"] = nme(predict_landmarks(judges["landmarks"], held), lm_held)
    grid = [draw_landmarks(x, p, 2) for x, p in zip(held[:16], gan.L(zx_held[:16]).double().numpy() * size)]
    (out / "heldout_L_of_E.png").write_bytes(encode_image(image_grid(np.stack(grid))))

    # Generated faces with landmarks: NME of L(z) against the independent landmark judge run on G(z).
    fake, fake_lm = batched_generate(lambda zz: gan.generate(zz, fast=a.fast), z)
    judge_lm = predict_landmarks(judges["landmarks"], fake)
    res["nme_L_of_z_vs_judge_on_G_of_z"] = nme(fake_lm, judge_lm)
    (out / "generated_with_landmarks.png").write_bytes(encode_image(image_grid(
        np.stack([draw_landmarks(f, p, 3) for f, p in zip(fake[:32], fake_lm[:32])]))))
    res["generate_eval_s"] = time.perf_counter() - t0

    # FID / KID (fakevision.evaluate, randconv-v1 extractor) and memorisation (pixels-v1 and randconv-v1).
    for spec in ("randconv-v1", "pixels-v1"):
        ext = get_extractor(spec)
        f_fake, f_train, f_held = ext(fake), ext(train), ext(held)
        if spec == "randconv-v1":
            res["fid_randconv_fake_vs_held_out"] = fid_from_features(f_fake, f_held, spec).__dict__
            res["fid_randconv_train_vs_held_out_reference"] = fid_from_features(f_train, f_held, spec).__dict__
            res["kid_randconv_fake_vs_held_out"] = kid_from_features(f_fake, f_held, subsets=50, subset_size=300,
                                                                     extractor=spec).__dict__
            res["kid_randconv_train_vs_held_out_reference"] = kid_from_features(
                f_train, f_held, subsets=50, subset_size=300, extractor=spec).__dict__
        m = memorisation_check(f_fake, f_train, f_held, quantile=0.02, extractor=spec).summary()
        m.pop("flagged_indices")
        res[f"memorisation_{spec}"] = m

    # VAC+GAN: does an independent gender classifier (trained on real UTK faces only) see the requested gender?
    vac = ConditionalGAN.load(VACGAN_FILE)
    want = np.arange(a.n) % 2
    vfaces = batched_generate(vac.generate, z, torch.as_tensor(want))
    got = predict(judges["gender"], vfaces).argmax(1).numpy()
    res["vacgan_class_accuracy_by_judge"] = float((got == want).mean())
    res["vacgan_accuracy_per_class"] = {c: float((got[want == i] == i).mean()) for i, c in enumerate(["male",
                                                                                                      "female"])}
    b_utk = b["utk"]
    test_idx = np.asarray(json.loads(judge_meta["gender_test_index"]))
    res["gender_judge_accuracy_on_real_test"] = float(
        (predict(judges["gender"], b_utk[test_idx]).argmax(1).numpy() == b["utk_gender"][test_idx]).mean())
    (out / "vacgan_male_female.png").write_bytes(encode_image(image_grid(vfaces[:32])))

    # VAR+GAN: requested yaw proxy vs the yaw proxy of the landmark judge's points on the generated face.
    var = ConditionalGAN.load(VARGAN_FILE)
    req = np.random.default_rng(1).choice(yaw_proxy(lm_train), a.n) * np.where(np.arange(a.n) % 2, 1, -1)
    rfaces = batched_generate(var.generate, z, torch.as_tensor(req, dtype=torch.float32))
    achieved = yaw_proxy(predict_landmarks(judges["landmarks"], rfaces))
    res["vargan_yaw_mae"] = float(np.abs(achieved - req).mean())
    res["vargan_yaw_mae_shuffled_baseline"] = float(np.abs(achieved - np.random.default_rng(2).permutation(req)).mean())
    res["vargan_yaw_corr"] = float(np.corrcoef(achieved, req)[0, 1])
    res["yaw_judge_mae_on_real_held_out"] = float(np.abs(
        yaw_proxy(predict_landmarks(judges["landmarks"], held)) - yaw_proxy(lm_held)).mean())
    sweep = np.tile(np.linspace(-0.8, 0.8, 8), 4)
    (out / "vargan_yaw_sweep.png").write_bytes(encode_image(image_grid(
        var.generate(z[:32], torch.as_tensor(sweep, dtype=torch.float32)))))
    res["eval_total_s"] = time.perf_counter() - t0
    (out / "gan_eval.json").write_text(json.dumps(res, indent=1, sort_keys=True, default=str))
    print(json.dumps(res, indent=1, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
