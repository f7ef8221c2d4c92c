#!/usr/bin/env python3
"""Face sources at 128x128 (issue 12: the table "at 64², and 128² where built"): one row per generator, 1,000 faces
each, against UTKFace (the 128² face bundle of ``fakevision faces prepare``) and the hand-annotated faces_68pt
helen_test at 128 px.

    OMP_NUM_THREADS=1 nice -n 10 python experiments/faces_table128.py --bundle utk128.safetensors \
        --appearance appearance128=runs/appearance128/appearance128.safetensors \
        --appearance appearance64_at128=src/fakevision/faces/data/appearance64.safetensors \
        --identity appearance128 --out results/faces_table128 --cache /tmp/faces128_cache

Written as ``faces_table.json`` in the layout of ``experiments/faces_table.py``, so ``fakevision report OUT --results
results/faces_table128`` shows it as the report's face-source table. Columns as there: dlib landmark agreement (median / mean NME, box = extent of the written
landmarks; ``faces.judge``) and the blank-image floor; FID / KID (randconv-v1) against the bundle's held-out photos
and sharpness relative to them; faces/s (one process, one thread, generation only); for the ``--identity`` rows the
identity leak (``evaluate.identity``: 500 generated faces against *all* the bundle's training photos, a superset of
what a model kept after dropping folded warps, threshold from the held-out photos — UTKFace has no identity labels,
so its split is by photo and no calibration by identity is possible) and identity variety. The embeddings are cached
under ``--cache`` (0.136 CPU-s a face: the 12,210 training photos take ~28 CPU-min once).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from fakevision.evaluate.distances import fid_from_features, kid_from_features
from fakevision.evaluate.features import get_extractor
from fakevision.evaluate.identity import embed_cached, identity_leak, identity_variety
from fakevision.faces.appearance import AppearanceGAN
from fakevision.faces.judge import blank_floor, landmark_agreement
from fakevision.gan.data import load_bundle, load_faces_68pt
from fakevision.gan.viz import draw_landmarks, image_grid
from fakevision.io.images import encode_image

SIZE = 128


def sharpness(images: np.ndarray) -> float:
    """Mean variance of the Laplacian of the grey image (higher = sharper)."""
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for im in images]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True, help="128x128 face bundle (fakevision faces prepare --size 128)")
    ap.add_argument("--faces68", default="../shared/data/faces_68pt")
    ap.add_argument("--appearance", action="append", default=[], help="NAME=weights of an AppearanceGAN (repeatable)")
    ap.add_argument("--identity", default="", help="rows with the identity check (comma-separated)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--identity-n", type=int, default=500)
    ap.add_argument("--out", default="results/faces_table128")
    ap.add_argument("--cache", default="/tmp/faces128_cache")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    b = load_bundle(a.bundle)
    train, held = b["faces"][b["faces_split"] == 0], b["faces"][b["faces_split"] == 1]
    if held.shape[1] != SIZE:
        raise SystemExit(f"{a.bundle}: faces are {held.shape[1]} px, this table is at {SIZE}")
    rc = get_extractor("randconv-v1")
    f_held, s_held = rc(held[:a.n]), sharpness(held[:a.n])
    faces, lms, split = load_faces_68pt(a.faces68, SIZE)
    res: dict = {"size": SIZE, "n": a.n, "bundle": Path(a.bundle).name, "n_train": int(len(train)),
                 "n_held": int(len(held)), "extractor": "randconv-v1", "loadavg_at_start": os.getloadavg(), "rows": {},
                 "labels": {"appearance128": "shape-appearance PCA-64 trained at 128² on UTKFace (appearance128 config)",
                            "appearance64_at128": "the shipped appearance64 (64² texture) warped onto 128² shapes"}}

    def row(name: str, ims: np.ndarray, lm: np.ndarray, fps: float | None) -> dict:
        ag, fl, f = landmark_agreement(ims, lm), blank_floor(lm, SIZE), rc(ims)
        r = {"n": int(len(ims)), "nme_extent": {"median": ag["median_nme"], "mean": ag["mean_nme"]},
             "nme_blank_floor_extent": {"median_nme": fl["median_nme"], "mean_nme": fl["mean_nme"], "n": fl["n"]},
             "fid_randconv": fid_from_features(f, f_held, "randconv-v1").value,
             "kid_randconv": kid_from_features(f, f_held, extractor="randconv-v1").mean,
             "sharpness_vs_real": sharpness(ims) / s_held, "faces_per_s_one_thread": fps,
             "reference": "utkface held-out"}
        grid = np.stack([draw_landmarks(im, p) for im, p in zip(ims[:16], lm[:16])])
        (out / f"grid_{name}.png").write_bytes(encode_image(image_grid(grid, 8)))
        print(name, json.dumps(r), flush=True)
        return r

    res["rows"]["real"] = row("real", faces[split == 1], lms[split == 1], None)
    res["rows"]["real"]["label"] = ("real faces (helen_test at 128 px, hand landmarks; FID and sharpness against "
                                    "UTKFace's held-out photos, another framing: no floor)")
    half = len(held) // 2  # the floor of FID/KID: one half of the held-out photos against the other
    fa, fb = rc(held[:half]), rc(held[half:2 * half])
    res["fid_floor_heldout_halves"] = {"n": half, "fid": fid_from_features(fa, fb, "randconv-v1").value,
                                       "kid": kid_from_features(fa, fb, extractor="randconv-v1").mean}
    with_identity = {s for s in a.identity.split(",") if s}
    if with_identity:
        et, eh = embed_cached(train, a.cache), embed_cached(held, a.cache)
    for spec in a.appearance:
        name, path = spec.split("=", 1)
        gan = AppearanceGAN.load(path)
        z = torch.rand(a.n, gan.z_dim, generator=torch.Generator().manual_seed(2026)) * 2 - 1
        t0 = time.perf_counter()
        ims, lm = gan.generate(z, np.random.default_rng(2026), size=SIZE)
        r = row(name, ims, lm, a.n / (time.perf_counter() - t0))
        r["weights"] = Path(path).name
        if name in with_identity:
            ef = embed_cached(ims[:a.identity_n], a.cache)
            r["identity"] = {**identity_leak(ef, et, eh), **identity_variety(ef, eh)}
            r["identity_n"], r["training_photos"] = int(len(ef)), int(len(train))
        res["rows"][name] = r
    res["loadavg_at_end"] = os.getloadavg()
    (out / "faces_table.json").write_text(json.dumps(res, indent=1, sort_keys=True, default=float) + "\n")


if __name__ == "__main__":
    main()
