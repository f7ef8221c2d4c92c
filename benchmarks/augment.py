"""Augmentation throughput and peak memory: fakevision vs Albumentations 2.0.8 (and Kornia, batched on CPU),
same real images, same operations, with a mask, one box and 68 keypoints carried by every library.

Run (from the repository root; Albumentations/Kornia are benchmark-only dependencies: ``pip install -e .[bench]``)::

    nice -n 19 python benchmarks/augment.py                       # native 160², 256², 512²; ~5 min on 1 core
    python benchmarks/augment.py --sizes 256 --n 100 --no-kornia  # quick look

Images: HELEN test faces from ``../shared/data/faces_68pt`` (160x160 crops with 68 landmarks), at native size
and resized to 256² and 512² (landmarks scaled with them); the mask is the face region (convex hull of the
landmarks). Each library runs single-threaded (OpenCV and torch set to 1 thread) and draws fresh parameters per
image. Throughput = images / best-of-``--repeats`` wall time, the libraries taking turns within each repeat;
noise from other processes on a shared machine inflates times, the ratio (ours / theirs, same run) is what to
read.
Peak memory (Linux): the resident memory the mixed pipeline adds on top of imports + data, each library in a
fresh process (peak-RSS counter reset before augmenting; RSS also counts OpenCV's and torch's own allocators,
which tracemalloc cannot see), and the tracemalloc peak of NumPy/OpenCV arrays in steady state.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from fakevision.augment import (
    Affine,
    Brightness,
    Compose,
    Contrast,
    Gamma,
    GaussianBlur,
    GaussianNoise,
    HorizontalFlip,
    JpegCompression,
    MotionBlur,
    ResolutionLoss,
    Rotate,
    Shadow,
    Translate,
    Zoom,
)
from fakevision.core import Annotations, Sample
from fakevision.core.sample import boxes_from_masks

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FAKEVISION_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_faces(n: int, size: int | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image, face mask, 68 keypoints in our corner convention) for n faces, resized to size² if given."""
    out = []
    for f in sorted((DATA / "faces_68pt" / "helen_test").glob("*.jpg"))[:n]:
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        body = f.with_suffix(".pts").read_text().split("{")[1].split("}")[0].split()
        kp = np.asarray(body, dtype=np.float64).reshape(-1, 2) - 0.5
        if size is not None and size != img.shape[0]:
            s = size / img.shape[0]
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
            kp = kp * s
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(kp - 0.5).astype(np.int32)), 1)
        out.append((img, mask.astype(bool), kp))
    return out


# -- the same operations in each library ------------------------------------------------------------------------
def ours_ops() -> dict[str, Callable[[], object]]:
    return {
        "HorizontalFlip": lambda: HorizontalFlip(p=1.0),
        "Rotate": lambda: Rotate(angle=(-15, 15)),
        "Zoom": lambda: Zoom(scale=(0.8, 1.2)),
        "Translate": lambda: Translate(x=(-0.1, 0.1), y=(-0.1, 0.1)),
        "Affine": lambda: Affine(scale=(0.9, 1.1), angle=(-10, 10), x=(-0.05, 0.05), y=(-0.05, 0.05)),
        "GaussianBlur": lambda: GaussianBlur(sigma=2.0),
        "GaussianNoise": lambda: GaussianNoise(variance=(40, 100)),
        "Contrast": lambda: Contrast(factor=(0.5, 1.0)),
        "Brightness": lambda: Brightness(delta=(-0.2, 0.2)),
        "Gamma": lambda: Gamma(gamma=(0.7, 1.5)),
        "Shadow": lambda: Shadow(strength=(0.3, 0.7)),
        "MotionBlur": lambda: MotionBlur(length=(3, 15), angle=(0, 360)),
        "ResolutionLoss": lambda: ResolutionLoss(scale=(0.25, 0.75)),
        "JpegCompression": lambda: JpegCompression(quality=(30, 90)),
    }


def albu_ops(A) -> dict[str, Callable[[], object]]:  # noqa: ANN001, N803
    s40, s100 = np.sqrt(40) / 255, np.sqrt(100) / 255
    return {
        "HorizontalFlip": lambda: A.HorizontalFlip(p=1),
        "Rotate": lambda: A.Rotate(limit=(-15, 15), border_mode=cv2.BORDER_CONSTANT, p=1),
        "Zoom": lambda: A.Affine(scale=(0.8, 1.2), p=1),
        "Translate": lambda: A.Affine(translate_percent=(-0.1, 0.1), p=1),
        "Affine": lambda: A.Affine(scale=(0.9, 1.1), rotate=(-10, 10), translate_percent=(-0.05, 0.05), p=1),
        "GaussianBlur": lambda: A.GaussianBlur(blur_limit=(13, 13), sigma_limit=(2.0, 2.0), p=1),
        "GaussianNoise": lambda: A.GaussNoise(std_range=(s40, s100), p=1),
        "Contrast": lambda: A.RandomBrightnessContrast(brightness_limit=0, contrast_limit=(-0.5, 0), p=1),
        "Brightness": lambda: A.RandomBrightnessContrast(brightness_limit=(-0.2, 0.2), contrast_limit=0, p=1),
        "Gamma": lambda: A.RandomGamma(gamma_limit=(70, 150), p=1),
        "Shadow": lambda: A.RandomShadow(shadow_roi=(0, 0, 1, 1), num_shadows_limit=(1, 1),
                                         shadow_intensity_range=(0.3, 0.7), p=1),
        "MotionBlur": lambda: A.MotionBlur(blur_limit=(3, 15), p=1),
        "ResolutionLoss": lambda: A.Downscale(scale_range=(0.25, 0.75), interpolation_pair={
            "downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}, p=1),
        "JpegCompression": lambda: A.ImageCompression(quality_range=(30, 90), p=1),
    }


def kornia_ops(K) -> dict[str, Callable[[], object]]:  # noqa: ANN001, N803
    return {
        "HorizontalFlip": lambda: K.RandomHorizontalFlip(p=1.0),
        "Rotate": lambda: K.RandomRotation(degrees=15.0, p=1.0),
        "Zoom": lambda: K.RandomAffine(degrees=0.0, scale=(0.8, 1.2), p=1.0),
        "Translate": lambda: K.RandomAffine(degrees=0.0, translate=(0.1, 0.1), p=1.0),
        "Affine": lambda: K.RandomAffine(degrees=10.0, translate=(0.05, 0.05), scale=(0.9, 1.1), p=1.0),
        "GaussianBlur": lambda: K.RandomGaussianBlur((13, 13), (2.0, 2.0), p=1.0),
        "GaussianNoise": lambda: K.RandomGaussianNoise(std=np.sqrt(70) / 255, p=1.0),
        "Contrast": lambda: K.RandomContrast(contrast=(0.5, 1.0), p=1.0),
        "Brightness": lambda: K.RandomBrightness(brightness=(0.8, 1.2), p=1.0),
        "Gamma": lambda: K.RandomGamma(gamma=(0.7, 1.5), p=1.0),
        "MotionBlur": lambda: K.RandomMotionBlur(kernel_size=(3, 15), angle=180.0, direction=0.0, p=1.0),
        "JpegCompression": lambda: K.RandomJPEG(jpeg_quality=(30.0, 90.0), p=1.0),
    }  # no Kornia equivalent of Shadow (soft polygon) or ResolutionLoss (down-up scale): "-" in the table


def with_p(ops: dict[str, Callable[[], object]], p: float) -> list[object]:
    out = []
    for make in ops.values():
        op = make()
        op.p = p  # same attribute name in all three libraries
        out.append(op)
    return out


# -- runners: each returns a callable augmenting item i -----------------------------------------------------------
def ours_runner(op: object, data: list) -> Callable[[int], object]:  # noqa: ANN001
    samples = [Sample(img, Annotations(categories=["face"], boxes=boxes_from_masks(m[None]), masks=m[None],
                                       keypoints=kp[None], keypoint_schema="ibug68")) for img, m, kp in data]
    rng = np.random.default_rng(0)
    return lambda i: op(samples[i % len(samples)], rng)  # type: ignore[operator]


def albu_runner(A, ops: list, data: list) -> Callable[[int], object]:  # noqa: ANN001, N803
    t = A.Compose(ops, keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
                  bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]), seed=0)
    items = [dict(image=img, mask=m.astype(np.uint8), keypoints=kp, bboxes=boxes_from_masks(m[None]),
                  labels=["face"]) for img, m, kp in data]
    return lambda i: t(**items[i % len(items)])


def kornia_batches(K, torch, op: object, data: list, batch: int) -> Callable[[int], object]:  # noqa: ANN001, N803
    seq = K.AugmentationSequential(op, data_keys=["input", "mask", "keypoints"])
    n = len(data)
    imgs = torch.stack([torch.from_numpy(d[0]).permute(2, 0, 1).float() / 255 for d in data])
    masks = torch.stack([torch.from_numpy(d[1][None].astype(np.float32)) for d in data])
    kps = torch.stack([torch.from_numpy(d[2].astype(np.float32)) for d in data])
    idx = [torch.arange(j, j + batch) % n for j in range(0, n, batch)]

    def run(i: int) -> object:
        b = idx[i % len(idx)]
        with torch.no_grad():
            return seq(imgs[b], masks[b], kps[b])

    return run


def throughput(fns: list[tuple[Callable[[int], object], int, int]], repeats: int) -> list[float]:
    """Images/s of each (fn, calls, images per call), best of ``repeats``; the libraries take turns within each
    repeat, so a burst of load from other processes hits them alike instead of one library's whole run."""
    for fn, _, _ in fns:
        fn(0)  # warm-up (lazy imports, caches)
    best = [np.inf] * len(fns)
    for _ in range(repeats):
        for k, (fn, calls, _) in enumerate(fns):
            t0 = time.perf_counter()
            for i in range(calls):
                fn(i)
            best[k] = min(best[k], time.perf_counter() - t0)
    return [calls * per / b for (_, calls, per), b in zip(fns, best)]


def peak_rss_child(lib: str, size: str, n_faces: int, batch: int) -> tuple[float, float]:
    """(peak RSS added, steady-state traced peak) in MiB for the mixed pipeline, in a fresh process per library.

    RSS: after imports and data loading the kernel's peak-RSS counter is reset (``/proc/self/clear_refs``), so
    the peak is that of augmenting 40 images (Kornia: 2 batches) alone, first-call initialisation included; it
    counts what tracemalloc cannot see (OpenCV's internal buffers, torch's allocator). Traced: the tracemalloc
    peak after one warm-up call (NumPy/OpenCV arrays only, so ~0 for Kornia's torch tensors)."""
    import subprocess

    cmd = [sys.executable, __file__, "--memory-child", lib, "--sizes", size, "--faces", str(n_faces),
           "--batch", str(batch)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    rss, traced = out.split()
    return float(rss), float(traced)


def _status_mib(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def memory_child(lib: str, size_s: str, n_faces: int, batch: int) -> None:
    import tracemalloc
    import warnings

    warnings.filterwarnings("ignore")
    cv2.setNumThreads(1)
    data = load_faces(n_faces, None if size_s == "native" else int(size_s))
    if lib == "ours":
        fn, calls = ours_runner(Compose(with_p(ours_ops(), 0.5)), data), 40
    elif lib == "albumentations":
        import albumentations as A

        fn, calls = albu_runner(A, with_p(albu_ops(A), 0.5), data), 40
    else:
        import kornia.augmentation as K  # noqa: N812
        import torch

        torch.set_num_threads(1)
        fn, calls = kornia_batches(K, torch, K.AugmentationSequential(*with_p(kornia_ops(K), 0.5)), data, batch), 2
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM (peak RSS) to the current RSS
    base = _status_mib("VmRSS")
    fn(0)  # first call: lazy initialisation (codecs, kernels) counts in RSS, not in the steady-state number
    tracemalloc.start()
    for i in range(1, calls):
        fn(i)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(_status_mib("VmHWM") - base, traced)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="native,256,512")
    ap.add_argument("--n", type=int, default=64, help="images per repeat (cycled over --faces faces)")
    ap.add_argument("--faces", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32, help="Kornia batch size")
    ap.add_argument("--no-kornia", action="store_true")
    ap.add_argument("--ops", default="", help="comma-separated subset of operations")
    ap.add_argument("--memory-child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.sizes, args.faces, args.batch)
        return

    import warnings

    import albumentations as A

    # Albumentations warns that a photometric-only Compose has box/keypoint processors: expected here.
    warnings.filterwarnings("ignore", message="Got processor for", category=UserWarning)
    cv2.setNumThreads(1)
    K = torch = None
    if not args.no_kornia:
        try:
            import kornia
            import kornia.augmentation as K  # noqa: N812
            import torch

            torch.set_num_threads(1)
            kver = kornia.__version__
        except ImportError:
            K = None
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, python "
          f"{sys.version.split()[0]}, opencv {cv2.__version__}, numpy {np.__version__}, albumentations "
          f"{A.__version__}" + (f", kornia {kver} (batch {args.batch}, CPU)" if K else ", kornia: not run"))
    print("# single thread per library; images/s = best of repeats; ratio = ours / theirs (> 1: we are faster)")
    ours, albu = ours_ops(), albu_ops(A)
    korn = kornia_ops(K) if K else {}
    names = [n for n in ours if not args.ops or n in args.ops.split(",")]
    for size_s in args.sizes.split(","):
        size = None if size_s == "native" else int(size_s)
        data = load_faces(args.faces, size)
        h = data[0][0].shape[0]
        print(f"\n## {h}x{h} ({'native' if size is None else 'resized'}), mask + 1 box + 68 keypoints")
        print(f"| {'operation':<16} | {'ours img/s':>10} | {'albu img/s':>10} | {'ours/albu':>9} | "
              f"{'kornia img/s':>12} | {'ours/kornia':>11} |")
        print("|" + "|".join(["-" * 18, "-" * 12, "-" * 12, "-" * 11, "-" * 14, "-" * 13]) + "|")
        rows = [(n, ours[n](), albu[n](), korn[n]() if n in korn else None) for n in names]
        mixed = ("mixed (all, p=0.5)", Compose(with_p(ours, 0.5)), with_p(albu, 0.5),
                 K.AugmentationSequential(*with_p(korn, 0.5)) if K else None)
        rows.append(mixed)
        for name, o, a, k in rows:
            fo = ours_runner(o, data)
            fa = albu_runner(A, a if isinstance(a, list) else [a], data)
            fns = [(fo, args.n, 1), (fa, args.n, 1)]
            if k is not None:
                fns.append((kornia_batches(K, torch, k, data, args.batch), max(1, args.n // args.batch), args.batch))
            rates = throughput(fns, args.repeats)
            r_o, r_a = rates[0], rates[1]
            if k is not None:
                r_k = rates[2]
                ks, kr = f"{r_k:12.0f}", f"{r_o / r_k:10.2f}x"
            else:
                ks, kr = f"{'-':>12}", f"{'-':>11}"
            print(f"| {name:<16} | {r_o:10.0f} | {r_a:10.0f} | {r_o / r_a:8.2f}x | {ks} | {kr} |", flush=True)
        mem = {lib: peak_rss_child(lib, size_s, args.faces, args.batch)
               for lib in ("ours", "albumentations") + (("kornia",) if K else ())}
        print("\npeak memory of the mixed pipeline, fresh process each (peak RSS added, first call included"
              f" / traced arrays in steady state; Kornia: batches of {args.batch}): "
              + ", ".join(f"{k} {v[0]:.1f} / {v[1]:.1f} MiB" for k, v in mem.items()))


if __name__ == "__main__":
    main()
