"""Truncation sweep for the shipped faces model: how sampling z ~ U(-t, t) (the ``gan_faces`` source's
``truncation``) trades variety for faces whose landmarks are better defined.

For each t: 1,000 faces from the fast generator F with their landmarks L(z); NME of L(z) against dlib and against
the real-face landmark judge, how far dlib and the judge disagree on the same face (how well defined its landmarks
are), the fraction where dlib finds a face, FID / KID (randconv-v1) against the 330 held-out faces, and variety:
the mean pairwise randconv-v1 feature distance of the generated faces over that of the held-out faces; and the
memorisation check (fraction of generated faces closer to a training face than 98 % of held-out faces are; 2 % by
chance) with pixels-v1 and randconv-v1 features — the seed's privacy claim.

    OMP_NUM_THREADS=2 python experiments/gan_truncation.py --judge out_gan/gpu3/judge_landmarks.safetensors \
        --bundle out_gpu_data/faces64_lm.safetensors --out results/gan_truncation.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from fakevision.evaluate.distances import fid_from_features, kid_from_features
from fakevision.evaluate.features import get_extractor
from fakevision.evaluate.memorisation import memorisation_check
from fakevision.gan.data import load_bundle, to_unit_range
from fakevision.gan.dlib_landmarks import get_landmarker
from fakevision.gan.mapping import nme
from fakevision.gan.model import FaceGAN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gan_refine import judge_rel, load_judge


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judge", default="out_gan/gpu3/judge_landmarks.safetensors")
    ap.add_argument("--bundle", default="out_gpu_data/faces64_lm.safetensors")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--truncations", default="1.0,0.8,0.6,0.4")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    gan, judge, dlib = FaceGAN.load(), load_judge(a.judge, "cpu"), get_landmarker()
    b = load_bundle(a.bundle)
    held, train = b["faces"][b["faces_split"] == 1], b["faces"][b["faces_split"] == 0]
    ext, pix = get_extractor("randconv-v1"), get_extractor("pixels-v1")
    f_held, f_train = ext(held), ext(train)
    p_held, p_train = pix(held), pix(train)

    def spread(f: np.ndarray) -> float:
        f = np.asarray(f, np.float64)[:330]
        d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
        return float(d.sum() / (len(f) * (len(f) - 1)))

    real_spread = spread(f_held)
    rows = []
    for t in (float(v) for v in a.truncations.split(",")):
        z = (torch.rand(a.n, gan.z_dim, generator=torch.Generator().manual_seed(2026)) * 2 - 1) * t
        faces, lm = gan.generate(z, fast=True)
        found, d = [], []
        for im in faces:
            p, rule = dlib.landmarks(im)
            d.append(p)
            found.append(rule == "hog")
        d, found = np.stack(d), np.array(found)
        with torch.no_grad():
            j = judge_rel(judge, to_unit_range(faces)).numpy() * gan.size
        f_fake = ext(faces)
        row = {"truncation": t, "n": a.n, "dlib_found_fraction": float(found.mean()),
               "nme_L_vs_dlib": nme(lm, d),
               "nme_L_vs_judge": nme(lm, j),
               "nme_judge_vs_dlib": nme(j, d),
               "fid_randconv_vs_held_out": fid_from_features(f_fake, f_held, "randconv-v1").value,
               "kid_randconv_vs_held_out": kid_from_features(f_fake, f_held, subsets=50, subset_size=300,
                                                             extractor="randconv-v1").mean,
               "variety_vs_held_out": spread(f_fake) / real_spread,
               "memorised_fraction_pixels": memorisation_check(pix(faces), p_train, p_held, 0.02,
                                                               "pixels-v1").summary()["flagged_fraction"],
               "memorised_fraction_randconv": memorisation_check(f_fake, f_train, f_held, 0.02,
                                                                 "randconv-v1").summary()["flagged_fraction"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
