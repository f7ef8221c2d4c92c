"""``fakevision smart``: train Smart Augmentation on a labelled real set, save A, write A's outputs.

The outputs go to ``out_dir/images/<class>/<id>.png`` with ``out_dir/labels.csv`` (``path,label``: the format the
downstream protocol reads as a fake set) and ``out_dir/manifest.jsonl`` (one provenance record per image, parents
included), plus ``a.pt`` (A's checkpoint, what the ``"smart"`` source reads), ``train.json`` (B's accuracy and the
setup) and ``grid.png`` (A's outputs beside their parents).

>>> import inspect
>>> list(inspect.signature(train_smart).parameters)[:3]
['labels_csv', 'label_column', 'out_dir']
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from fakevision.core.source import make_sample
from fakevision.io.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    dumps_json,
)
from fakevision.io.images import encode_image
from fakevision.io.labelled import load_labelled_csv, stratified_split
from fakevision.smart.augmenter import SmartAugmenter
from fakevision.smart.source import SmartSource
from fakevision.train.classifier import train_classifier


def train_smart(
    labels_csv: str | Path,
    label_column: str,
    out_dir: str | Path,
    n_train: int | None = None,
    n_val: int = 1,
    k: int = 2,
    per_class: bool = False,
    alpha: float = 0.3,
    beta: float = 0.7,
    output: str = "paper",
    use_classical: bool = False,
    model: str = "paper_b",
    size: int = 32,
    grey: bool = True,
    epochs: int = 40,
    seed: int = 0,
    split_seed: int = 0,
    count: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train A jointly with B on a per-class split (``n_train`` per class, default all but ``n_val`` + 1 test image
    per class; drawn with ``split_seed`` exactly as ``evaluate_downstream`` draws it, so the same arguments give
    the same training images there), save A, and write ``count`` generated images whose parents are training
    images only. ``seed`` drives A/B initialisation and sampling. Returns the summary (also ``train.json``)."""
    out = Path(out_dir)
    ds = load_labelled_csv(labels_csv, label_column, size=size, grey=grey)
    per = np.bincount(ds.labels).min()
    n_tr = int(n_train) if n_train is not None else int(per - n_val - 1)
    split = stratified_split(ds.labels, n_tr, n_val, seed=split_seed)
    tr, va, te = (ds.subset(s) for s in (split.train, split.val, split.test))
    aug = SmartAugmenter(k=k, per_class=per_class, alpha=alpha, beta=beta, output=output, use_classical=use_classical)
    r = train_classifier(model, (tr.images, tr.labels), (va.images, va.labels), (te.images, te.labels),
                         len(ds.classes), epochs=epochs, seed=seed, augmenter=aug, device=device)
    aug.net.cpu()
    aug.save(out / "a.pt", ds.classes, ds.images.shape[3], size)
    summary = {"augmenter": aug.name, "config": aug.config(), "model_b": model, "epochs": epochs, "seed": seed,
               "split_seed": split_seed,
               "size": size, "grey": grey, "n_train": len(tr), "n_val": len(va), "n_test": len(te),
               "b_test_acc": r["test_acc"], "b_val_acc": r["val_acc"], "best_epoch": r["best_epoch"],
               "a_last_losses": aug.last, "count": count, "wall_s": round(r["wall_s"], 1)}
    if count > 0:
        write_outputs(SmartSource("smart", aug, tr), count, seed, out)
    atomic_write_json(out / "train.json", summary)
    return summary


def write_outputs(source: SmartSource, count: int, seed: int, out: Path) -> None:
    """Samples 0..count-1 as PNGs + labels.csv + manifest.jsonl (+ grid.png of the first 8 with parents)."""
    rows: list[tuple[str, str | None]] = []
    manifest: list[str] = []
    shown: list[Any] = []
    for i in range(count):
        s = make_sample(source, i, seed)
        rel = f"images/{s.annotations.label}/{s.id}.png"
        atomic_write_bytes(out / rel, encode_image(s.image))
        rows.append((rel, s.annotations.label))
        manifest.append(dumps_json({"path": rel, "label": s.annotations.label, "provenance": s.provenance.to_dict()}))
        if len(shown) < 8:
            shown.append((s.image, [source.real.images[source.real.ids.index(p)] for p in s.provenance.parents]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "label"])
    w.writerows(rows)
    atomic_write_text(out / "labels.csv", buf.getvalue())
    atomic_write_text(out / "manifest.jsonl", "\n".join(manifest) + "\n")
    atomic_write_bytes(out / "grid.png", encode_image(parent_grid(shown)))


def parent_grid(items: list[tuple[np.ndarray, list[np.ndarray]]], pad: int = 2) -> np.ndarray:
    """One row per generated image: its parents, a gap, then the output (uint8, grey or RGB)."""
    h, w, c = items[0][0].shape
    k = max(len(p) for _, p in items)
    cols = k + 2
    grid = np.full((len(items) * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for r, (img, parents) in enumerate(items):
        y = pad + r * (h + pad)
        for j, p in enumerate(parents):
            grid[y : y + h, pad + j * (w + pad) : pad + j * (w + pad) + w] = p
        x = pad + (k + 1) * (w + pad)
        grid[y : y + h, x : x + w] = img
    return grid

