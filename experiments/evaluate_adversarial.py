"""Adversarial hard samples: clean / FGSM / one-pixel accuracy of models trained without and with FGSM samples.

    nice -n 19 python experiments/evaluate_adversarial.py --dataset utkface_gender \
        --out results/evaluate_adversarial_utkface_gender
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from fakevision.evaluate.adversarial import run_adversarial
from fakevision.evaluate.report import render_adversarial


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=["utkface_gender", "orl_identity"])
    ap.add_argument("--data-root", default=os.environ.get("FAKEVISION_SHARED_DATA", "../shared/data"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epsilon", type=float, default=0.03)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    res = run_adversarial(a.dataset, a.data_root, a.seeds, epsilon=a.epsilon, epochs=a.epochs, device=a.device,
                          out_dir=a.out, log=lambda m: print(m, flush=True))
    print(json.dumps(res["rows"], indent=1))
    print(render_adversarial(res)[:200])
    print(f"wall {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
