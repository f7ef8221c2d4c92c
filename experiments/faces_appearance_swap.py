#!/usr/bin/env python3
"""Which part of a shape-appearance generator makes its faces better: its appearance (the PCA texture) or its shapes
(the reference set it samples landmarks from, and the fold rule that filters them)? Each generator's appearance is
warped onto each generator's sampled shapes — the same shapes and the same z for every appearance — and measured:
dlib NME (box = extent of the written landmarks), FID (randconv-v1) and sharpness vs held-out real CelebA faces, and
the framing of the shapes themselves (chin height, share of points outside the frame) next to real faces'.

    OMP_NUM_THREADS=1 nice -n 10 python experiments/faces_appearance_swap.py --celeba celeba64.safetensors \\
        --model old=old_appearance64.safetensors --model new=src/fakevision/faces/data/appearance64.safetensors \\
        --out results/faces_table/appearance_swap.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from fakevision.evaluate.distances import fid_from_features
from fakevision.evaluate.features import get_extractor
from fakevision.faces.appearance import AppearanceGAN, select_people
from fakevision.faces.judge import dlib_points, per_face_nme
from fakevision.gan.data import load_bundle


def sharpness(images: np.ndarray) -> float:
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for im in images]))


def framing(shapes: np.ndarray, size: int) -> dict[str, float]:
    return {"chin_y_median": float(np.median(shapes[:, 8, 1])), "centre_y": float(shapes[..., 1].mean()),
            "points_outside": float(((shapes < 0) | (shapes > size)).any(2).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--celeba", required=True, help="the CelebA bundle (held-out people are the real reference)")
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH of an appearance generator")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--held-people", type=float, default=0.5)
    ap.add_argument("--held-max", type=int, default=1000)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    cb = load_bundle(a.celeba)
    split, ids = cb["faces_split"], cb["label_identity"]
    he = (split == 1) & select_people(ids, a.held_people, salt="held")
    he[np.flatnonzero(he)[a.held_max:]] = False
    held = cb["faces"][he]
    rc = get_extractor("randconv-v1")
    fh, sh_real = rc(held), sharpness(held)
    models = {k: AppearanceGAN.load(v) for k, v in (m.split("=", 1) for m in a.model)}
    res: dict = {"n": a.n, "loadavg": os.getloadavg(), "real_framing": framing(cb["landmarks"][he].astype(float), 64),
                 "shapes": {}, "cells": []}
    for sname, sg in models.items():
        shapes = sg.sample_shapes(a.n, np.random.default_rng(5), 64)
        res["shapes"][sname] = framing(shapes, 64)
        for aname, ag in models.items():
            z = torch.rand(a.n, ag.z_dim, generator=torch.Generator().manual_seed(1)) * 2 - 1
            faces = ag.warp_onto(ag.appearance(z), shapes, 64)
            e = per_face_nme(dlib_points(faces, shapes), shapes)
            cell = {"shapes": sname, "appearance": aname, "nme_median": float(np.median(e)), "nme_mean": float(e.mean()),
                    "fid_randconv": fid_from_features(rc(faces), fh, rc.name).value,
                    "sharpness_vs_real": sharpness(faces) / sh_real}
            res["cells"].append(cell)
            print(json.dumps(cell), flush=True)
    print(json.dumps(res, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
