"""Compare FaceGAN bundles (G, E, L) on the two landmark measurements of the issue, with dlib as the independent
detector: NME of L(E(x)) against ground truth on held-out faces (helen_test), and NME of L(z) against dlib's 68
points on G(z) for random z (dlib: ``fakevision.gan.dlib_landmarks``, calibrated at NME 0.047 on real 64x64 faces).

    OMP_NUM_THREADS=1 python experiments/gan_landmark_check.py --bundle out_gpu_data/faces64_lm.safetensors \
        src/fakevision/gan/weights/faces64.safetensors out_gan/gpu3/faces64_plain.safetensors ...
    # BUNDLE@CODES: held-out codes from experiments/gan_refine.py (hybrid inversion) stand in for E(x)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from fakevision.gan.data import load_bundle, to_unit_range
from fakevision.gan.dlib_landmarks import get_landmarker
from fakevision.gan.mapping import encode, nme
from fakevision.gan.model import FaceGAN


def check(path: str, held_faces: np.ndarray, held_lms: np.ndarray, n: int, fast: bool = False) -> dict:
    path, _, codes = path.partition("@")
    gan = FaceGAN.load(path)
    t0 = time.perf_counter()
    with torch.no_grad():
        zh = torch.as_tensor(np.load(codes)["held"]) if codes else encode(gan.E, held_faces)
        l_of_e = gan.L(zh).numpy() * gan.size
        rec = float((gan.G(zh).clamp(-1, 1) - to_unit_range(held_faces)).abs().mean())
        z = torch.rand(n, gan.z_dim, generator=torch.Generator().manual_seed(2026)) * 2 - 1
        imgs, pts = gan.generate(z, fast=fast)
    lm = get_landmarker()
    found, d = [], []
    for im in imgs:
        p, rule = lm.landmarks(im)
        d.append(p)
        found.append(rule == "hog")
    d = np.stack(d)
    found = np.array(found)
    return {"bundle": path, "codes": codes or "E(x)", "generator": "fast" if fast else "G", "nme_L_of_E_heldout_vs_ground_truth": nme(l_of_e, held_lms),
            "recon_l1_heldout": rec, "nme_L_of_z_vs_dlib_on_G_of_z": nme(pts, d),
            "nme_L_of_z_vs_dlib_where_dlib_detected_a_face": nme(pts[found], d[found]) if found.any() else None,
            "dlib_detected_fraction": float(found.mean()), "n_generated": n, "n_heldout": len(held_faces),
            "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="+")
    ap.add_argument("--bundle", default="out_gpu_data/faces64_lm.safetensors", help="face data (held-out split)")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--fast", action="store_true", help="generate with the bundles' distilled fast generator F")
    a = ap.parse_args()
    torch.set_num_threads(1)
    b = load_bundle(a.bundle)
    held = b["faces_split"] == 1
    rows = [check(p, b["faces"][held], b["landmarks"][held].astype(np.float64), a.n, a.fast) for p in a.bundles]
    for r in rows:
        print(json.dumps(r))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
