#!/usr/bin/env python3
"""Can the shape-appearance generator cover real head poses? Shapes sampled with frame points outside the image
(``AppearanceGAN.FRAME_MARGIN = 0.5``: yaw spread ~0.30, as real CelebA faces have) with two appearances: the
shipped single PCA (a frontal texture stretched onto turned shapes), and a PCA per yaw bin of the same training
faces (left / frontal / right by the yaw proxy of their own landmarks; a left face mirrored is a right one), each
face taking the bin of its target shape's yaw. Same z, same shapes; dlib NME (box = extent of the written
landmarks; also over |yaw| > 0.3), FID (randconv-v1) vs held-out CelebA faces, and a grid ordered by yaw.

    OMP_NUM_THREADS=1 nice -n 10 python experiments/faces_yaw_bins.py --celeba celeba64.safetensors --people 0.05 \\
        --out results/faces_table/yaw_bins.json --grid results/faces_table/grid_yaw_bins.png
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from fakevision.evaluate.distances import fid_from_features
from fakevision.evaluate.features import get_extractor
from fakevision.faces.appearance import AppearanceGAN, fit_pca_appearance, normalise_faces, select_people
from fakevision.faces.judge import dlib_points, per_face_nme
from fakevision.gan.data import load_bundle, to_uint8
from fakevision.gan.viz import draw_landmarks, image_grid
from fakevision.io.images import encode_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--celeba", required=True)
    ap.add_argument("--people", type=float, default=0.05, help="training people (as the shipped appearance64)")
    ap.add_argument("--bin", type=float, default=0.2, help="|yaw proxy| beyond which a face is turned")
    ap.add_argument("--modes", type=int, default=64)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--grid", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    cb = load_bundle(a.celeba)
    split, ids = cb["faces_split"], cb["label_identity"]
    tr = (split == 0) & select_people(ids, a.people)
    gan = AppearanceGAN.load()
    lms = cb["landmarks"][tr].astype(np.float64)
    norm, folded = normalise_faces(cb["faces"][tr], lms, gan.mean_shape)
    yaw_tr = gan.shape_model.pose(lms / 64)[:, 0]
    keep, t = ~folded, a.bin
    left, mid, right = keep & (yaw_tr < -t), keep & (np.abs(yaw_tr) <= t), keep & (yaw_tr > t)
    dec_r = fit_pca_appearance(np.concatenate([norm[right], norm[left][:, :, ::-1]]), a.modes, mirror=False)
    dec_l = fit_pca_appearance(np.concatenate([norm[left], norm[right][:, :, ::-1]]), a.modes, mirror=False)
    dec_m = fit_pca_appearance(norm[mid], a.modes, mirror=True)
    wide = AppearanceGAN.load()
    wide.FRAME_MARGIN, wide.FRAME_PER_SIDE, wide.MOUTH_SLACK = 0.5, 3, 2.0
    he = (split == 1) & select_people(ids, 0.5, salt="held")
    he[np.flatnonzero(he)[1000:]] = False
    rc = get_extractor("randconv-v1")
    fh = rc(cb["faces"][he])
    z = torch.rand(a.n, a.modes, generator=torch.Generator().manual_seed(2026)) * 2 - 1
    shapes = wide.sample_shapes(a.n, np.random.default_rng(2026), 64)
    yaw = wide.shape_model.pose(shapes / 64)[:, 0]
    res: dict = {"n": a.n, "loadavg": os.getloadavg(), "training_faces": int(tr.sum()),
                 "folded_in_normalisation": float(folded.mean()), "bins_left_mid_right": [int(left.sum()),
                 int(mid.sum()), int(right.sum())], "yaw_sd_training": float(yaw_tr.std()),
                 "yaw_sd_generated": float(yaw.std()), "rows": {}}
    with torch.no_grad():
        binned = np.where((yaw < -t)[:, None, None, None], to_uint8(dec_l(z)),
                          np.where((yaw > t)[:, None, None, None], to_uint8(dec_r(z)), to_uint8(dec_m(z))))
    big = np.abs(yaw) > 0.3
    for label, app in (("one_pca_shipped", gan.appearance(z)), ("pca_per_yaw_bin", binned)):
        faces = wide.warp_onto(app, shapes, 64)
        e = per_face_nme(dlib_points(faces, shapes), shapes)
        res["rows"][label] = {"nme_median": float(np.median(e)), "nme_mean": float(e.mean()),
                              "nme_median_turned": float(np.median(e[big])), "turned_n": int(big.sum()),
                              "fid_randconv": fid_from_features(rc(faces), fh, rc.name).value}
        print(label, json.dumps(res["rows"][label]), flush=True)
        if a.grid and label == "pca_per_yaw_bin":
            o = np.argsort(yaw)[np.linspace(0, a.n - 1, 32).astype(int)]
            Path(a.grid).write_bytes(encode_image(image_grid(np.stack([draw_landmarks(faces[i], shapes[i], 2)
                                                                        for i in o]), 8)))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
