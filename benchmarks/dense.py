"""The exact piecewise-affine warp (``fakevision.augment.functional.dense``): warps/s onto one target shape, the
use of morphing k faces onto one sampled 68-point shape, against scikit-image's ``PiecewiseAffineTransform`` +
``warp`` (the tool face-morphing scripts use) in the same run. Goal (issue 15): >= 2,000 warps/s at 64² on one core.

Run (from the repository root; scikit-image is a benchmark-only dependency: ``pip install -e .[bench]``)::

    nice -n 10 python benchmarks/dense.py                      # 64², 160², 256²; ~1 min
    python benchmarks/dense.py --sizes 64 --n 500

Data: HELEN test faces from ``../shared/data/faces_68pt`` (160x160 crops with 68 landmarks) resized to each size;
the target is the mean of their landmark shapes; each face's own landmarks are its source points; 8 frame points
(corners and edge midpoints) as in ours. Rows:

- ``image``: one image warped onto the prepared target (``PiecewiseAffineWarp.warp(image, src)``);
- ``sample``: a whole ``Sample`` (image, face mask, box, 68 keypoints moved exactly) through the same warp;
- ``batch of 3``: three faces' maps from one sparse product (``maps``) and three remaps, per face;
- ``build + image``: the target prepared anew for every warp (a new shape each time, as in augmentation);
- ``skimage``: ``PiecewiseAffineTransform.from_estimate`` (output -> input points) + ``warp`` (bilinear, order=1),
  per warp.

Single thread (OpenCV set to 1 thread); best of ``--repeats``; the ratio column is ours / scikit-image.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from fakevision.augment.functional.dense import PiecewiseAffineWarp, frame_points
from fakevision.core import Annotations, Sample

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FAKEVISION_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_faces(n: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, 68 landmarks in the corner convention) for n HELEN test faces at size²."""
    out = []
    for f in sorted((DATA / "faces_68pt" / "helen_test").glob("*.jpg"))[:n]:
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        body = f.with_suffix(".pts").read_text().split("{")[1].split("}")[0].split()
        kp = np.asarray(body, dtype=np.float64).reshape(-1, 2) - 0.5  # .pts: 1-based pixel centres
        s = size / img.shape[0]
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        out.append((img, kp * s))
    return out


def rate(fn: Callable[[int], object], n: int, repeats: int, per_call: int = 1) -> float:
    fn(0)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, time.perf_counter() - t0)
    return n * per_call / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="64,160,256")
    ap.add_argument("--n", type=int, default=300, help="warps per repeat")
    ap.add_argument("--faces", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    try:
        import skimage
        from skimage.transform import PiecewiseAffineTransform, warp

        skv = skimage.__version__
    except ImportError:
        skimage = None
        skv = "not installed"
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, load average "
          f"{os.getloadavg()[0]:.1f}, python {sys.version.split()[0]}, opencv {cv2.__version__}, numpy "
          f"{np.__version__}, scikit-image {skv}; one thread; warps/s = best of {args.repeats}")
    print(f"| {'size':>4} | {'case':<14} | {'ours warps/s':>12} | {'skimage warps/s':>15} | {'ours/skimage':>12} |")
    print("|------|----------------|--------------|-----------------|--------------|")
    for size in (int(s) for s in args.sizes.split(",")):
        data = load_faces(args.faces, size)
        target = np.mean([kp for _, kp in data], axis=0)
        t0 = time.perf_counter()
        w = PiecewiseAffineWarp(target, (size, size))
        build_ms = (time.perf_counter() - t0) * 1e3
        nf = len(data)
        samples = []
        for img, kp in data:
            mask = np.zeros((size, size), np.uint8)
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(kp - 0.5).astype(np.int32)), 1)
            m = mask.astype(bool)[None]
            x, y = np.nonzero(m[0].any(0))[0], np.nonzero(m[0].any(1))[0]
            samples.append(Sample(img, Annotations(categories=["face"], boxes=[[x[0], y[0], x[-1] + 1, y[-1] + 1]],
                                                   masks=m, keypoints=kp[None], keypoint_schema="ibug68")))
        srcs = np.stack([kp for _, kp in data])

        def sk_warp(i: int) -> np.ndarray:
            img, kp = data[i % nf]
            fr = frame_points(size, size, 2)
            t = PiecewiseAffineTransform.from_estimate(np.concatenate([target, fr]), np.concatenate([kp, fr]))
            return warp(img, t, output_shape=(size, size), order=1, preserve_range=True)

        sk = rate(sk_warp, max(5, args.n // 20), args.repeats) if skimage else None
        rows = [
            ("image", rate(lambda i: w.warp(data[i % nf][0], data[i % nf][1]), args.n, args.repeats)),
            ("sample", rate(lambda i: w.warp(samples[i % nf], srcs[i % nf]), args.n, args.repeats)),
            ("batch of 3", rate(lambda i: [cv2.remap(data[(3 * i + k) % nf][0], m.xy, None, cv2.INTER_LINEAR)
                                          for k, m in enumerate(w.maps(srcs[[(3 * i + j) % nf for j in range(3)]]))],
                                args.n // 3, args.repeats, per_call=3)),
            ("build + image", rate(lambda i: PiecewiseAffineWarp(srcs[(i + 1) % nf], (size, size)).warp(
                data[i % nf][0], data[i % nf][1]), max(5, args.n // 10), args.repeats)),
        ]
        for name, r in rows:
            skc = f"{sk:15.0f}" if sk else f"{'-':>15}"
            ratio = f"{r / sk:11.1f}x" if sk else f"{'-':>12}"
            print(f"| {size:>4} | {name:<14} | {r:12.0f} | {skc} | {ratio} |", flush=True)
        print(f"|      | (target build: {build_ms:.1f} ms, {len(w.triangles)} triangles) | | | |")


if __name__ == "__main__":
    main()
