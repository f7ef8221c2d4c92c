"""Smart Augmentation vs baselines and controls on a shared real set: one command per table.

    nice -n 19 python experiments/smart_table.py --dataset utkface_gender --epochs 40 --out results/smart_utkface_gender
    nice -n 19 python experiments/smart_table.py --dataset orl_identity --epochs 60 --out results/smart_orl_identity

Writes runs.jsonl (one line per finished run; a rerun skips them), table.json and table.md under --out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from fakevision.evaluate.smart_table import DEFAULT_CONDITIONS, run_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=["utkface_gender", "orl_identity"])
    ap.add_argument("--data-root", default=os.environ.get("FAKEVISION_SHARED_DATA", "../shared/data"))
    ap.add_argument("--conditions", nargs="+", default=list(DEFAULT_CONDITIONS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--model", default="paper_b")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    res = run_table(a.dataset, a.data_root, a.conditions, a.seeds, size=a.size, model=a.model, epochs=a.epochs,
                    lr=a.lr, device=a.device, out_dir=a.out, log=lambda s: print(s, flush=True))
    print(Path(a.out, "table.md").read_text(encoding="utf-8"))
    print(f"wall {time.time() - t0:.0f} s; command: python {' '.join(sys.argv)}")
    return 0 if res["rows"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
