#!/usr/bin/env python3
"""Build the shipped 68-point shape model (``fakevision/faces/data/shape68.safetensors``) and measure it.

    python experiments/faces_shape_model.py --faces68 ../shared/data/faces_68pt \
        --bundle /work/scratch/faces/bundles/celeba64.safetensors --bundle /work/scratch/faces/bundles/utk128.safetensors \
        --reference utk128 --out src/fakevision/faces/data/shape68.safetensors --results results/faces_shape_model.json

Shapes: faces_68pt's training splits (helen_train + afw, hand-annotated) and the training split (``faces_split ==
0``) of each bundle from ``fakevision faces prepare`` (dlib's points), all in frame units (pixels / side). The modes
come from all of them (with mirror images); the stored reference set for sampling (placements, pose range) from
``--reference`` (``faces68`` or a bundle's file stem), the framing the default face source uses. Reported: modes,
variance kept, and the reconstruction NME of ``ShapeModel.fit`` (eye-centre normalised) on the held-out shapes of
every set (helen_test; the bundles' held-out splits) — never trained on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fakevision.faces.shape import SHAPE_FILE, ShapeModel
from fakevision.gan.data import load_bundle, load_faces_68pt
from fakevision.gan.mapping import nme


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces68", default="../shared/data/faces_68pt")
    ap.add_argument("--bundle", action="append", default=[])
    ap.add_argument("--reference", default="faces68")
    ap.add_argument("--variance", type=float, default=0.98)
    ap.add_argument("--per-set", type=int, default=6000, help="at most this many training shapes per set")
    ap.add_argument("--out", default=str(SHAPE_FILE))
    ap.add_argument("--results", default=None)
    a = ap.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    train, held = {}, {}
    _, lm, split = load_faces_68pt(a.faces68, 160)
    train["faces68"], held["faces68"] = lm[split == 0] / 160.0, lm[split == 1] / 160.0
    for path in a.bundle:
        b = load_bundle(path)
        side = b["faces"].shape[1]
        u = b["landmarks"].astype(np.float64) / side
        name = Path(path).stem
        train[name], held[name] = u[b["faces_split"] == 0], u[b["faces_split"] != 0]
    if a.reference not in train:
        raise SystemExit(f"--reference {a.reference!r} is none of {sorted(train)}")
    parts = []
    for u in train.values():
        parts.append(u if len(u) <= a.per_set else u[np.sort(rng.choice(len(u), a.per_set, replace=False))])
    info = {"sources": {k: int(len(v)) for k, v in train.items()}, "per_set_cap": a.per_set,
            "reference": a.reference}
    model = ShapeModel.build(np.concatenate(parts), variance=a.variance, info=info)
    model = model.conditioned_on(train[a.reference])
    res = {"modes": model.num_modes, "variance_kept": model.info["variance_kept"], "train_shapes": info["sources"],
           "reference": a.reference, "pose_range_yaw_pitch_roll": model.pose_range.tolist()}
    for name, u in held.items():
        if len(u):
            res[f"fit_nme_held_out_{name}"] = nme(model.fit(u), u)
            res[f"held_out_{name}"] = int(len(u))
    model.info.update({k: v for k, v in res.items() if k.startswith("fit_nme")})
    model.save(a.out)
    res["seconds"] = time.perf_counter() - t0
    res["file_bytes"] = Path(a.out).stat().st_size
    print(json.dumps(res, indent=1))
    if a.results:
        Path(a.results).parent.mkdir(parents=True, exist_ok=True)
        Path(a.results).write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
