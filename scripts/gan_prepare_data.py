"""Preprocess the shared face data sets into one tensor file for GAN training (run once, here).

    python scripts/gan_prepare_data.py --data ../shared/data --out out_gpu_data/faces64.safetensors --size 64

The output folder must be git-ignored (``/out*/``): the file carries research-only faces and must not be committed.
"""

from __future__ import annotations

import argparse

from fakevision.gan.data import prepare_face_bundle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="out_gpu_data/faces64.safetensors")
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    print(prepare_face_bundle(a.data, a.out, a.size))


if __name__ == "__main__":
    main()
