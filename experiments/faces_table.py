#!/usr/bin/env python3
"""The face-source table of issue 12: one row per face source, 1,000 faces each at 64x64.

    OMP_NUM_THREADS=1 nice -n 10 python experiments/faces_table.py \
        --celeba /work/scratch/faces/bundles/celeba64_partial.safetensors \
        --appearance appearance_pca=src/fakevision/faces/data/appearance64.safetensors \
        --out results/faces_table --cache /work/scratch/faces/table_cache

Rows: the latent-mapping GAN (``gan_faces``, shipped weights, truncation 0.9, fast generator), morphs at k = 3 and
5 (``faces.morph``, feathered blend, Dirichlet(4) weights, bank = the CelebA bundle's training split), the
shape-appearance GAN (``faces.appearance``), and real faces (faces_68pt helen_test at 64 px with their hand-made
landmarks; CelebA held-out people for identity). Columns, each source against *its own* training set and held-out
real faces (CelebA's for the CelebA-trained sources, faces_68pt's for the latent GAN, which saw helen_train + afw):

- dlib landmark agreement: median / mean NME of dlib's points against the written ones, box = extent of the
  written landmarks (``faces.judge``; also dlib's own box rule), and the blank-image floor with the same boxes;
- identity leak (``evaluate.identity``, dlib ResNet): flagged fraction at the 5 % calibrated threshold, and identity
  variety (median nearest-other distance vs as many held-out real faces);
- memorisation flags at 2 % (``evaluate.memorisation``): pixels-v1 and randconv-v1 features;
- FID / KID (randconv-v1) vs the held-out real faces; sharpness (mean variance of the Laplacian of the grey image
  over that of the held-out real faces);
- faces/s with landmarks: one process, one thread, measured here while generating (machine load in the JSON).

Also the calibration of the identity check with CelebA identities, and the morph trade-off k vs leak vs sharpness.
Resumable: generated faces, dlib points and embeddings are cached under ``--cache``; a finished row is kept.
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
from fakevision.evaluate.identity import calibrate, embed_cached, identity_leak, identity_variety
from fakevision.evaluate.memorisation import memorisation_check
from fakevision.faces.judge import blank_floor, landmark_agreement
from fakevision.gan.data import load_bundle, load_faces_68pt
from fakevision.gan.viz import draw_landmarks, image_grid
from fakevision.io.images import encode_image
from fakevision.report.faces import LABELS


def sharpness(images: np.ndarray) -> float:
    """Mean variance of the Laplacian of the grey image (higher = sharper)."""
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for im in images]))


def generate(name: str, n: int, args, celeba_train) -> tuple[np.ndarray, np.ndarray, float]:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if name == "latent_gan":
        from fakevision.gan.model import FaceGAN

        gan = FaceGAN.load()
        z = (torch.rand(n, gan.z_dim, generator=torch.Generator().manual_seed(2026)) * 2 - 1) * 0.9
        faces, lm = [], []
        for i in range(0, n, 100):
            f, p = gan.generate(z[i:i + 100], fast=True)
            faces.append(f)
            lm.append(p)
        faces, lm = np.concatenate(faces), np.concatenate(lm)
    elif name.startswith("morph"):
        from fakevision.faces.morph import morph_face

        k = int(name.split("_k")[1])
        bank = celeba_train()
        t0 = time.perf_counter()  # the bank is built once per source, not per face
        out = [morph_face(bank, np.random.default_rng([2026, i]), k=k, blend="feather") for i in range(n)]
        faces, lm = np.stack([o[0] for o in out]), np.stack([o[1] for o in out])
    elif name.startswith("appearance"):
        from fakevision.faces.appearance import AppearanceGAN

        gan = AppearanceGAN.load(dict(v.split("=", 1) for v in args.appearance)[name])
        t0 = time.perf_counter()
        z = torch.rand(n, gan.z_dim, generator=torch.Generator().manual_seed(2026)) * 2 - 1
        faces, lm = gan.generate(z, np.random.default_rng(2026))
    else:
        raise ValueError(name)
    return faces, lm.astype(np.float64), n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--celeba", required=True, help="CelebA bundle from fakevision faces prepare (identity split)")
    ap.add_argument("--faces68", default="../shared/data/faces_68pt")
    ap.add_argument("--appearance", action="append", default=[],
                    help="ROW=PATH: a shape-appearance generator's weights for row ROW (appearance_pca, ...)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--skip-identity", default="", help="rows without the identity check (comma-separated; 'all')")
    ap.add_argument("--foreign", default="", help="rows not trained on the selected training faces (an older model): "
                    "no identity or memorisation check against them (comma-separated)")
    ap.add_argument("--people", type=float, default=1.0,
                    help="training faces = the training split's photos of this fraction of people "
                         "(faces.appearance.select_people, as `train appearance --people`)")
    ap.add_argument("--row-people", action="append", default=[],
                    help="ROW=FRACTION: this row's model was trained on another fraction of people (e.g. the GAN on "
                         "0.2): its identity and memorisation checks use those training photos (all embedded)")
    ap.add_argument("--held-people", type=float, default=1.0,
                    help="held-out reference = the held-out people's photos of this fraction of them (salt 'held')")
    ap.add_argument("--held-max", type=int, default=0, help="at most this many held-out faces (the first ones)")
    ap.add_argument("--previous", default="", help="a finished table's rows folder: rows named in --carry are "
                    "taken from it as they were (marked with where they came from)")
    ap.add_argument("--carry", default="", help="rows to take from --previous (comma-separated)")
    ap.add_argument("--no-calibration", action="store_true", help="leave out the identity check's calibration")
    ap.add_argument("--identity-n", type=int, default=500,
                    help="generated faces embedded per source (dlib's ResNet costs ~0.1 CPU-s a face)")
    ap.add_argument("--rows", default="real,latent_gan,morph_k3,morph_k5,appearance_pca")
    ap.add_argument("--tradeoff", default="2,3,5,8", help="morph k values for the k/leak/sharpness table")
    ap.add_argument("--tradeoff-n", type=int, default=300)
    ap.add_argument("--default", default="appearance_p05_m64",
                    help="the row of the source the default `fakevision make` writes (the report marks its goals)")
    ap.add_argument("--out", default="results/faces_table")
    ap.add_argument("--cache", default="/tmp/faces_table_cache")
    a = ap.parse_args()
    out, cache = Path(a.out), Path(a.cache)
    out.mkdir(parents=True, exist_ok=True)
    (cache / "rows").mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    pix, rc = get_extractor("pixels-v1"), get_extractor("randconv-v1")

    cb = load_bundle(a.celeba)
    from fakevision.faces.appearance import select_people

    split, ids = cb["faces_split"], cb["label_identity"]
    people, held_people = select_people(ids, a.people), select_people(ids, a.held_people, salt="held")
    tr, he, ph = (split == 0) & people, (split == 1) & held_people, (split == 2) & people
    if a.held_max and he.sum() > a.held_max:  # the first rows only (dlib's ResNet: ~0.14 CPU-s a face)
        he[np.flatnonzero(he)[a.held_max:]] = False
    celeba = {"train": cb["faces"][tr], "held": cb["faces"][he], "held_ids": ids[he],
              "photos": cb["faces"][ph], "train_ids": ids[tr]}
    f68, l68, s68 = load_faces_68pt(a.faces68, 64)
    faces68 = {"train": f68[s68 == 0], "held": f68[s68 == 1], "held_lm": l68[s68 == 1].astype(np.float64)}
    bank_cache: dict = {}

    def celeba_train():
        if "bank" not in bank_cache:
            from fakevision.faces.morph import FaceBank

            bank_cache["bank"] = FaceBank.from_bundle(a.celeba)
        return bank_cache["bank"]

    sets = {"celeba_train": celeba["train"], "celeba_held": celeba["held"], "celeba_photos": celeba["photos"],
            "f68_train": faces68["train"], "f68_held": faces68["held"]}
    row_people = {k: float(v) for k, v in (r.split("=", 1) for r in a.row_people)}
    for name, frac in row_people.items():  # another model's training set: its own reference set
        sets[f"celeba_train_{name}"] = cb["faces"][(split == 0) & select_people(ids, frac)]

    class _Lazy(dict):  # reference sets are embedded when first needed (dlib's ResNet: ~0.1 CPU-s a face)
        def __missing__(self, key):
            self[key] = embed_cached(sets[key], cache)
            return self[key]

    emb = _Lazy()
    skip_identity = {v for v in a.skip_identity.split(",") if v}
    if "all" in skip_identity:
        skip_identity |= set(a.rows.split(","))
    res: dict = {"n": a.n, "loadavg_at_start": load, "celeba_bundle": a.celeba, "people": a.people,
                 "held_people": a.held_people, "held_max": a.held_max,
                 "celeba": {k: int(len(v)) for k, v in celeba.items() if not k.endswith("_ids")},
                 "identity_calibration": {} if a.no_calibration else calibrate(
                     emb["celeba_train"], emb["celeba_held"], celeba["held_ids"], emb["celeba_photos"],
                     train_ids=celeba["train_ids"]),
                 "sharpness_real_celeba_held": sharpness(celeba["held"]),
                 "sharpness_real_f68_held": sharpness(faces68["held"]), "rows": {},
                 "default": a.default, "extractor": "randconv-v1", "size": 64, "memorisation_chance": 0.02}
    print(json.dumps(res["identity_calibration"]), flush=True)

    foreign = {v for v in a.foreign.split(",") if v}
    for name in [v for v in a.carry.split(",") if v]:
        row = json.loads((Path(a.previous) / f"{name}.json").read_text())
        row["from"] = str(a.previous)
        res["rows"][name] = row
    for name in [r for r in a.rows.split(",") if r and r not in res["rows"]]:
        row_file = cache / "rows" / f"{name}.json"
        if row_file.is_file():
            res["rows"][name] = json.loads(row_file.read_text())
            continue
        if name.startswith("appearance") and name not in dict(v.split("=", 1) for v in a.appearance):
            continue
        t0 = time.perf_counter()
        if name == "real":
            faces, lm, fps = faces68["held"], faces68["held_lm"], float("nan")
            ref = "faces68"
        else:
            gen_file = cache / f"gen_{name}_{a.n}.npz"
            if gen_file.is_file():
                z = np.load(gen_file)
                faces, lm, fps = z["faces"], z["landmarks"], float(z["fps"])
            else:
                faces, lm, fps = generate(name, a.n, a, celeba_train)
                np.savez(gen_file, faces=faces, landmarks=lm, fps=fps)
            ref = "faces68" if name == "latent_gan" else "celeba"
        row: dict = {"n": int(len(faces)), "faces_per_s_one_thread": fps, "reference": ref}
        for rule in ("extent", "dlib"):
            ag = landmark_agreement(faces, lm, rule)
            row[f"nme_{rule}"] = {"median": ag["median_nme"], "mean": ag["mean_nme"]}
        row["nme_blank_floor_extent"] = blank_floor(lm, faces.shape[1], "extent")
        if name == "real":  # identity on the real side: CelebA held-out people, half against the other half
            row["identity"] = {k: v for k, v in res["identity_calibration"].items() if k == "held_out_people_flagged"}
        else:
            train, held = (faces68["train"], faces68["held"]) if ref == "faces68" else (celeba["train"], celeba["held"])
            train_key = "f68_train" if ref == "faces68" else "celeba_train"
            if name in row_people:
                train_key = f"celeba_train_{name}"
                train = sets[train_key]
                row["people"] = row_people[name]
                row["training_photos"] = int(len(train))
            if name in skip_identity or name in foreign:
                row["identity"] = {}
            else:
                e = embed_cached(faces[:a.identity_n], cache)
                et, eh = emb[train_key], (emb["f68_held"] if ref == "faces68" else emb["celeba_held"])
                row["identity"] = {**identity_leak(e, et, eh), **identity_variety(e, eh)}
                row["identity_n"] = int(len(e))
            for ext in (pix, rc) if name not in foreign else ():
                m = memorisation_check(ext(faces), ext(train), ext(held), 0.02, ext.name).summary()
                row[f"memorised_{ext.name}"] = m["flagged_fraction"]
            fr, fh = rc(faces), rc(held)
            row["fid_randconv"] = fid_from_features(fr, fh, rc.name).value
            row["kid_randconv"] = kid_from_features(fr, fh, subsets=50, subset_size=min(300, len(fh), len(fr)),
                                                    extractor=rc.name).mean
            row["sharpness_vs_real"] = sharpness(faces) / sharpness(held)
        row["seconds"] = time.perf_counter() - t0
        grid = image_grid(np.stack([draw_landmarks(f, p, 2) for f, p in zip(faces[:32], lm[:32])]), 8)
        (out / f"grid_{name}.png").write_bytes(encode_image(grid))
        row_file.write_text(json.dumps(row, indent=1, sort_keys=True))
        res["rows"][name] = row
        print(name, json.dumps(row), flush=True)

    trade = []
    for k in [int(v) for v in a.tradeoff.split(",") if v]:
        f = cache / f"trade_k{k}_{a.tradeoff_n}.json"
        if f.is_file():
            trade.append(json.loads(f.read_text()))
            continue
        from fakevision.faces.morph import morph_face

        bank = celeba_train()
        outp = [morph_face(bank, np.random.default_rng([77, k, i]), k=k, blend="feather") for i in range(a.tradeoff_n)]
        faces = np.stack([o[0] for o in outp])
        e = embed_cached(faces, cache)
        r = {"k": k, "n": a.tradeoff_n, **identity_leak(e, emb["celeba_train"], emb["celeba_held"]),
             "variety": identity_variety(e, emb["celeba_held"])["variety_vs_real"],
             "sharpness_vs_real": sharpness(faces) / res["sharpness_real_celeba_held"]}
        f.write_text(json.dumps(r))
        trade.append(r)
        print("tradeoff", json.dumps(r), flush=True)
    res["morph_tradeoff"] = trade
    res["loadavg_at_end"] = os.getloadavg()
    (out / "faces_table.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    (out / "faces_table.md").write_text(markdown(res))
    print(markdown(res))


def markdown(res: dict) -> str:
    names = {**LABELS, **(res.get("labels") or {})}  # the report's words for the rows (one list, in the package)
    lines = ["| source | dlib NME median / mean (box: extent) | dlib's box rule | blank floor | identity flags "
             "(5 % chance) | identity variety | memorised pixels / randconv (2 % chance) | FID / KID randconv-v1 | "
             "sharpness vs real | faces/s, 1 thread |", "|---" * 10 + "|"]
    for k, r in res["rows"].items():
        idn = r["identity"]
        flags = idn.get("flagged_fraction", idn.get("held_out_people_flagged"))
        flags_s = "not measured" if flags is None else f"{100 * flags:.1f} %"
        var = f"{idn['variety_vs_real']:.2f}" if "variety_vs_real" in idn else ("1 (reference)" if k == "real"
                                                                                 else "not measured")
        mem = (f"{100 * r['memorised_pixels-v1']:.1f} % / {100 * r['memorised_randconv-v1']:.1f} %"
               if "memorised_pixels-v1" in r else "–")
        fid = f"{r['fid_randconv']:.2f} / {r['kid_randconv']:.4f}" if "fid_randconv" in r else "–"
        sh = f"{r['sharpness_vs_real']:.2f}" if "sharpness_vs_real" in r else "1"
        fps = "–" if r["faces_per_s_one_thread"] != r["faces_per_s_one_thread"] else f"{r['faces_per_s_one_thread']:.0f}"
        mark = " (earlier run †)" if "from" in r else ""
        lines.append(f"| {names.get(k, k)}{mark} | {r['nme_extent']['median']:.3f} / {r['nme_extent']['mean']:.3f} | "
                     f"{r['nme_dlib']['median']:.3f} / {r['nme_dlib']['mean']:.3f} | "
                     f"{r['nme_blank_floor_extent']['median_nme']:.3f} | {flags_s} | {var} | {mem} | {fid} | "
                     f"{sh} | {fps} |")
    if any("from" in r for r in res["rows"].values()):
        lines += ["", "† carried from an earlier run of this script (another CelebA bundle: the first 8,000 images; "
                  "identity and memorisation against that run's training sets; see its JSON)."]
    c = res["identity_calibration"]
    lines += [] if not c else ["", f"Identity-check calibration (CelebA): photos of held-out people flagged "
                  f"{100 * c['held_out_people_flagged']:.1f} % (n = {c['held_out_people_n']}, chance 5 %); held-out "
                  f"photos of training people flagged {100 * c.get('training_people_new_photos_flagged', 0):.1f} % "
                  f"(n = {c.get('training_people_new_photos_n', 0)}); each training photo against the other training "
                  f"faces (leave one out) {100 * c.get('training_photos_leave_one_out_flagged', 0):.1f} % "
                  f"(n = {c.get('training_photos_leave_one_out_n', 0)})."]
    if res.get("morph_tradeoff"):
        lines += ["", "| morph k | identity flags | identity variety | sharpness vs real |", "|---|---|---|---|"]
        for t in res["morph_tradeoff"]:
            lines.append(f"| {t['k']} | {100 * t['flagged_fraction']:.1f} % | {t['variety']:.2f} | "
                         f"{t['sharpness_vs_real']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
