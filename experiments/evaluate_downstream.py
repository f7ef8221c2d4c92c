"""Downstream protocol on a shared real set with Smart Augmentation outputs as the fake set: one command.

    nice -n 19 python experiments/evaluate_downstream.py --dataset utkface_gender --out results/evaluate_utkface_gender

Steps: (1) train Smart Augmentation (A + B) on the protocol's real training split and write ``--count`` A outputs
(parents from the training split only); (2) the protocol: real-only vs real+fake at each ratio over the seeds;
(3) FID/KID (randconv-v1) of the fake set vs the real training split, and the memorisation check.
Writes smart/ (A, outputs, grid), protocol.{json,md,png}, distances.json under --out.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from fakevision.evaluate.api import evaluate_downstream
from fakevision.evaluate.distances import fid_from_features, kid_from_features
from fakevision.evaluate.features import PixelExtractor, RandConvExtractor
from fakevision.evaluate.memorisation import find_near_copies
from fakevision.io.atomic import atomic_write_json
from fakevision.io.labelled import KNOWN_SETS, load_labelled_csv, stratified_split
from fakevision.smart.api import train_smart


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=sorted(KNOWN_SETS))
    ap.add_argument("--data-root", default=os.environ.get("FAKEVISION_SHARED_DATA", "../shared/data"))
    ap.add_argument("--ratios", type=float, nargs="+", default=[0, 0.5, 1, 2, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--sa-epochs", type=int, default=40)
    ap.add_argument("--model", default="smallcnn")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    rel, col, n_tr, n_va, _ = KNOWN_SETS[a.dataset]
    csv_path = os.path.join(a.data_root, rel)
    real = load_labelled_csv(csv_path, col, size=a.size, grey=True)
    n_train_total = n_tr * len(real.classes)
    count = int(max(a.ratios) * n_train_total)
    smart_dir = os.path.join(a.out, "smart")
    s = train_smart(csv_path, col, smart_dir, n_train=n_tr, n_val=n_va, model="paper_b", size=a.size,
                    epochs=a.sa_epochs, count=count, device=a.device)
    print(f"SA trained: B test {s['b_test_acc']:.3f}, {count} images written ({time.time() - t0:.0f}s)", flush=True)
    res = evaluate_downstream(csv_path, col, os.path.join(smart_dir, "labels.csv"), a.out, n_train=n_tr, n_val=n_va,
                              ratios=a.ratios, seeds=a.seeds, model=a.model, epochs=a.epochs, size=a.size,
                              device=a.device, log=lambda m: print(m, flush=True))
    print(Path(a.out, "protocol.md").read_text(encoding="utf-8"), flush=True)
    # Distances and memorisation of the fake set against the real training split it was made from.
    split = stratified_split(real.labels, n_tr, n_va, seed=0)
    fake = load_labelled_csv(os.path.join(smart_dir, "labels.csv"), "label", size=a.size, grey=True)
    ext = RandConvExtractor()
    ft, ff = ext(real.images[split.train]), ext(fake.images)
    fr_test = ext(real.images[split.test])
    fid = fid_from_features(ff, ft, extractor=ext.name)
    fid_ref = fid_from_features(fr_test, ft, extractor=ext.name)
    kid = kid_from_features(ff, ft, subsets=50, subset_size=200, extractor=ext.name)
    mem = find_near_copies(fake.images, real.images[split.train], real.images[split.test], PixelExtractor())
    summary = mem.summary()
    summary["flagged_ids"] = [fake.ids[i] for i in summary.pop("flagged_indices")]
    dist = {"real": f"{a.dataset} train split", "fake": "smart outputs", "image_size": a.size,
            "fid": fid.to_dict(), "fid_real_test_vs_train": fid_ref.to_dict(), "kid": kid.to_dict(),
            "memorisation": summary}
    atomic_write_json(os.path.join(a.out, "distances.json"), dist)
    print(f"FID fake-vs-train {fid.value:.3f} (real test vs train {fid_ref.value:.3f}); KID {kid.mean:.5f}; "
          f"flagged {summary['flagged']}/{summary['n_fake']}", flush=True)
    print(f"wall {time.time() - t0:.0f} s; protocol wall {res['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
