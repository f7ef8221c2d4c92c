#!/usr/bin/env python3
"""CPU-only BEGAN training for the issue's goal (face-like 64x64 samples within 2 hours of CPU training); the
measured run and its numbers are in src/fakevision/gan/weights/README.md.

    python scripts/gan_prepare_data.py --data ../shared/data --out out_gpu_data/faces64.safetensors
    OMP_NUM_THREADS=1 nice -n 19 python scripts/gan_train_cpu.py --out out_gan/cpu90 --seconds 5400

One torch thread (the machine is shared), narrow generator (n_gen 32), batch 16; resumable from OUT/checkpoint.pt.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from fakevision.gan.api import train_began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="out_gpu_data/faces64.safetensors")
    ap.add_argument("--out", default="out_gan/cpu90")
    ap.add_argument("--seconds", type=float, default=5400.0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    r = train_began(a.bundle, a.out, size=64, seconds=a.seconds, n_gen=32, n_enc=32, batch=16, lr=1e-4,
                    ckpt_every=500)
    r.update(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
