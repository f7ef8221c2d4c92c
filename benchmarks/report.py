"""How the report scales with the size of an output: seconds to write it and the size of the HTML file, for outputs of
1,000 and 10,000 samples (``--sizes``), against the reference in the same run: reading every sample back once
(``FakevisionDataset.to_sample`` for all of them), which is what a report that looked at everything would cost.

Run (from the repository root)::

    nice -n 19 python benchmarks/report.py                 # 1,000 and 10,000 samples; a few minutes
    python benchmarks/report.py --sizes 1000 --kind faces  # quick look

The outputs are synthetic but shaped like the real ones (``--kind``): ``render`` = 128x96 pictures with 4 instance
masks, boxes, 10 keypoints each, depth and normals; ``faces`` = 64x64 pictures with one box and 68 landmarks. They
are written once with the writers (not timed) into ``--work`` (default: a temp folder).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from fakevision.core.sample import Annotations, Provenance, Sample, boxes_from_masks


def _sample(i: int, kind: str, rng: np.random.Generator) -> Sample:
    params = {"x": float(rng.uniform()), "kind": ["a", "b", "c"][i % 3], "light": {"ambient": float(rng.uniform())}}
    prov = Provenance("bench", f"bench-{i:06d}", seed=0, index=i, params=params)
    if kind == "faces":
        img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        kp = rng.uniform(10, 54, (1, 68, 2))
        return Sample(img, Annotations(categories=["face"], boxes=[[8, 8, 56, 56]], keypoints=kp,
                                       keypoint_schema="ibug68"), prov)
    h, w, n = 96, 128, 4
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    masks = np.zeros((n, h, w), bool)
    for j in range(n):
        x0, y0 = int(rng.integers(0, w - 30)), int(rng.integers(0, h - 30))
        masks[j, y0:y0 + 25, x0:x0 + 25] = True
    depth = rng.uniform(0.5, 3.0, (h, w)).astype(np.float32)
    normals = np.zeros((h, w, 3), np.float32)
    normals[..., 2] = -1.0
    ann = Annotations(categories=[["box", "sphere"][j % 2] for j in range(n)], boxes=boxes_from_masks(masks),
                      masks=masks, keypoints=rng.uniform(0, [w, h], (n, 10, 2)), depth=depth, normals=normals)
    return Sample(img, ann, prov)


def make_output(out: Path, n: int, kind: str) -> None:
    from fakevision.io.writers import OutputSpec, ShardInfo, make_writers

    writers = make_writers([OutputSpec(format=f) for f in ("coco", "manifest")])
    rng = np.random.default_rng(0)
    shard = 500
    k_shards = -(-n // shard)
    for k in range(k_shards):
        samples = [_sample(i, kind, rng) for i in range(k * shard, min(n, (k + 1) * shard))]
        for wr in writers:
            wr.write_shard(out, ShardInfo(k, k_shards, k * shard), samples)
    for wr in writers:
        wr.finalize(out, k_shards)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--kind", choices=["render", "faces"], default="render")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    from fakevision.io.dataset import FakevisionDataset
    from fakevision.report import write_report

    print(f"# report scaling, {args.kind} samples; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("| samples | write_report (s) | HTML (MB) | reference: read every sample once (s) | report / reference |")
    print("|---:|---:|---:|---:|---:|")
    work = args.work or Path(tempfile.mkdtemp(prefix="fv-report-bench-"))
    warm = work / f"{args.kind}-warm-up"  # imports (matplotlib, jinja2, pycocotools) and first calls, not timed
    if not (warm / "manifest.jsonl").is_file():
        make_output(warm, 8, args.kind)
    write_report(warm)
    for n in args.sizes:
        out = work / f"{args.kind}-{n}"
        if not (out / "manifest.jsonl").is_file():
            make_output(out, n, args.kind)
        t0 = time.perf_counter()
        ds = FakevisionDataset(out)
        for i in range(len(ds)):
            ds.to_sample(i)
        ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        path = write_report(out)
        rep = time.perf_counter() - t0
        print(f"| {n:,} | {rep:.1f} | {path.stat().st_size / 1e6:.1f} | {ref:.1f} | {rep / ref:.2f} |", flush=True)


if __name__ == "__main__":
    main()
