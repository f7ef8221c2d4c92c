"""Iris statistics that say whether rendered eyes look like a real iris set: size and contrast, computed the same
way for both from an image and its iris mask (iris annulus, pupil excluded, as in MMU's masks).

Per image: ``diameter_px`` (horizontal extent of the iris disc = mask with its holes filled, robust to lids
covering the top and bottom), ``diameter_frac`` (over the image width), ``iris_mean`` / ``iris_std`` (grey level
and texture inside the iris), ``pupil_mean`` (the filled holes), ``surround_mean`` (a ring 30 % of the diameter
wide around the disc: sclera, lids, lashes), ``contrast_surround`` = (surround - iris) / (surround + iris),
``contrast_pupil`` = (iris - pupil) / (iris + pupil). Grey = mean of the colour channels, 0..255.

>>> import numpy as np
>>> img = np.full((60, 80, 3), 200, np.uint8); m = np.zeros((60, 80), bool)
>>> yy, xx = np.mgrid[0:60, 0:80]; r = np.hypot(xx - 40, yy - 30)
>>> m[(r < 15) & (r >= 5)] = True; img[m] = 100; img[r < 5] = 10
>>> s = iris_statistics(img, m)
>>> s["diameter_px"], round(s["contrast_surround"], 3), round(s["contrast_pupil"], 3)
(29, 0.333, 0.818)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fakevision.core.sample import Sample

KEYS = ("diameter_px", "diameter_frac", "iris_mean", "iris_std", "pupil_mean", "surround_mean", "contrast_surround",
        "contrast_pupil")
#: One line per statistic, for tables people read (the report's comparison section).
KEY_HELP = {
    "diameter_px": "iris diameter in pixels (horizontal extent of the filled iris disc)",
    "diameter_frac": "iris diameter / image width",
    "iris_mean": "mean grey level inside the iris (0-255)",
    "iris_std": "grey-level std inside the iris (texture)",
    "pupil_mean": "mean grey level of the pupil (holes of the iris mask)",
    "surround_mean": "mean grey level of a ring around the iris (sclera, lids, lashes)",
    "contrast_surround": "(surround - iris) / (surround + iris)",
    "contrast_pupil": "(iris - pupil) / (iris + pupil)",
}


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    pad = np.pad(m, 1)
    flood = pad.copy()
    ff = np.zeros((pad.shape[0] + 2, pad.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, ff, (0, 0), 1)  # everything reachable from outside
    holes = flood[1:-1, 1:-1] == 0
    return mask | holes


def iris_statistics(image: np.ndarray, iris_mask: np.ndarray) -> dict[str, float] | None:
    """Statistics of one image (see the module docstring); None when the mask is empty."""
    mask = np.asarray(iris_mask, bool)
    if not mask.any():
        return None
    img = np.asarray(image, dtype=np.float64)
    grey = img.mean(axis=2) if img.ndim == 3 else img
    disc = _fill_holes(mask)
    cols = np.flatnonzero(disc.any(axis=0))
    diameter = int(cols[-1] - cols[0] + 1)
    k = max(3, int(round(0.3 * diameter)) | 1)
    ring = cv2.dilate(disc.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    ring = ring.astype(bool) & ~disc
    pupil = disc & ~mask
    iris_mean = float(grey[mask].mean())
    surround = float(grey[ring].mean()) if ring.any() else float("nan")
    pupil_mean = float(grey[pupil].mean()) if pupil.any() else float("nan")
    return {
        "diameter_px": diameter,
        "diameter_frac": diameter / grey.shape[1],
        "iris_mean": iris_mean,
        "iris_std": float(grey[mask].std()),
        "pupil_mean": pupil_mean,
        "surround_mean": surround,
        "contrast_surround": (surround - iris_mean) / (surround + iris_mean + 1e-9),
        "contrast_pupil": (iris_mean - pupil_mean) / (iris_mean + pupil_mean + 1e-9),
    }


def sample_iris_statistics(sample: Sample, category: str = "iris") -> dict[str, float] | None:
    """``iris_statistics`` of a sample's ``category`` instance (its union if there are several)."""
    a = sample.annotations
    idx = [i for i, c in enumerate(a.categories) if c == category]
    if not idx or a.masks is None:
        return None
    return iris_statistics(sample.image, np.asarray(a.masks[idx].any(axis=0), bool))


def summarise(stats: Iterable[dict[str, float] | None]) -> dict[str, Any]:
    """Mean, std and median of each statistic over a set (None entries, i.e. no iris visible, are counted)."""
    rows = list(stats)
    ok = [r for r in rows if r is not None]
    out: dict[str, Any] = {"n": len(rows), "n_with_iris": len(ok)}
    for key in KEYS:
        v = np.array([r[key] for r in ok], dtype=np.float64)
        v = v[np.isfinite(v)]
        out[key] = {"mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v))} if len(v) else None
    return out


def compare_table(sets: dict[str, dict[str, Any]]) -> str:
    """A Markdown table (statistic x set, mean ± std) of ``summarise`` results."""
    names = list(sets)
    lines = ["| statistic | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines.append("| images (with iris) | " + " | ".join(f"{sets[n]['n']} ({sets[n]['n_with_iris']})" for n in names)
                 + " |")
    for key in KEYS:
        cells = []
        for n in names:
            s = sets[n][key]
            cells.append("-" if s is None else f"{s['mean']:.3g} ± {s['std']:.2g}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def difference_rows(ours: dict[str, Any], reference: dict[str, Any]) -> list[dict[str, Any]]:
    """Per statistic, two ``summarise`` results side by side: ``ours`` and ``reference`` (each ``{"mean", "std"}``
    or None), ``diff`` = ours mean - reference mean, ``rel`` = diff / |reference mean| and ``z`` = diff / reference
    std (how far outside the real spread the rendered mean lies; None where undefined). Why z: a 10 % difference
    in diameter matters if real irises vary by 2 %, not if they vary by 30 %.

    >>> a = summarise([{k: 2.0 for k in KEYS}]); b = summarise([{k: 1.0 for k in KEYS}, {k: 3.0 for k in KEYS}])
    >>> r = difference_rows(a, b)[0]
    >>> r["key"], r["diff"], r["rel"], r["z"]
    ('diameter_px', 0.0, 0.0, 0.0)
    """
    rows = []
    for key in KEYS:
        o, r = ours.get(key), reference.get(key)
        diff = rel = z = None
        if o is not None and r is not None:
            diff = o["mean"] - r["mean"]
            rel = diff / abs(r["mean"]) if r["mean"] else None
            z = diff / r["std"] if r["std"] > 0 else None
        rows.append({"key": key, "help": KEY_HELP[key], "ours": o, "reference": r, "diff": diff, "rel": rel, "z": z})
    return rows


def mmu_statistics(path: str | Path, limit: int | None = None, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Summarised statistics of the MMU iris set (``mmu_iris_images_and_masks.tar.xz`` or its extracted folder),
    the first ``limit`` pairs in sorted order."""
    from fakevision.io.readers.mask_pairs import MaskPairReader

    reader = MaskPairReader(path, category="iris", cache_dir=cache_dir)
    n = len(reader) if limit is None else min(limit, len(reader))
    return summarise(sample_iris_statistics(reader[i]) for i in range(n))


def rendered_statistics(n: int, seed: int = 0, **config: Any) -> dict[str, Any]:
    """Summarised statistics of ``n`` samples of a ``render_eye`` source with ``config`` (e.g. appearance="nir",
    degrade="none"), made exactly as a recipe would make them."""
    from fakevision.core.source import make_sample
    from fakevision.render.source import RenderEyeConfig, build_eye

    src = build_eye(RenderEyeConfig(type="render_eye", count=n, **config))
    return summarise(sample_iris_statistics(make_sample(src, i, seed)) for i in range(n))


def main(argv: list[str] | None = None) -> int:
    """``python -m fakevision.evaluate.iris_stats --mmu PATH [--n 200]``: the comparison table, rendered vs MMU."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--mmu", required=True, help="mmu_iris_images_and_masks.tar.xz or its extracted folder")
    ap.add_argument("--n", type=int, default=200, help="rendered eyes per configuration")
    ap.add_argument("--limit", type=int, default=None, help="MMU pairs to read (default all)")
    a = ap.parse_args(argv)
    sets = {"MMU (real, NIR)": mmu_statistics(a.mmu, a.limit)}
    runs: tuple[tuple[str, dict[str, Any]], ...] = (
        ("render nir", {"appearance": "nir", "degrade": "none"}),
        ("render nir + camera", {"appearance": "nir", "degrade": "camera"}),
        ("render visible", {"appearance": "visible", "degrade": "none"}),
    )
    for name, cfg in runs:
        sets[name] = rendered_statistics(a.n, **cfg)
    print(compare_table(sets))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
