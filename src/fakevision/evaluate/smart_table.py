"""The Smart Augmentation table: conditions x seeds on one real set, mean ± std, difference to "none" with CI.

Rows mirror the seed paper's table (# Net As x input channels k x classical augmentation on/off) plus the
baselines (none, classical, RandAugment, TrivialAugment) and the two controls (within-class blend, mixup). Every
run trains the same target network B from scratch with the same schedule; only the batch augmenter differs.

Conditions are one-line specs (``fakevision.smart.conditions``: ``none``, ``classical``, ``blend:k=2``,
``smart:nets=1,k=2,classical=0``, ...); ``DEFAULT_CONDITIONS`` is the seed paper's table plus baselines and controls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fakevision.evaluate.stats import difference_ci, fmt_diff, fmt_pct, summarise
from fakevision.io.atomic import atomic_write_json, atomic_write_text
from fakevision.io.labelled import load_known_set
from fakevision.smart.augmenter import SmartAugmenter
from fakevision.smart.conditions import DEFAULT_CONDITIONS, make_augmenter
from fakevision.train.classifier import train_classifier


def run_table(
    dataset: str,
    data_root: str | Path,
    conditions: Sequence[str] = DEFAULT_CONDITIONS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    size: int = 32,
    model: str = "paper_b",
    epochs: int = 40,
    batch_size: int = 32,
    lr: float = 2e-3,
    device: str = "cpu",
    out_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train every condition with every seed; return (and write to ``out_dir``) the JSON result and the table.

    Resumable: finished runs are appended to ``runs.jsonl`` in ``out_dir`` and skipped when it is rerun.
    """
    t0 = time.perf_counter()
    ds, split = load_known_set(dataset, data_root, size=size, grey=True)
    tr, va, te = (ds.subset(s) for s in (split.train, split.val, split.test))
    out = Path(out_dir) if out_dir else None
    done: dict[tuple[str, int], dict[str, Any]] = {}
    runs_path = out / "runs.jsonl" if out else None
    if runs_path and runs_path.exists():
        for line in runs_path.read_text().splitlines():
            r = json.loads(line)
            done[(r["condition"], r["seed"])] = r
    for cond in conditions:
        for seed in seeds:
            if (cond, seed) in done:
                continue
            aug = make_augmenter(cond)
            r = train_classifier(model, (tr.images, tr.labels), (va.images, va.labels), (te.images, te.labels),
                                 len(ds.classes), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                 augmenter=aug, device=device)
            rec = {"condition": cond, "augmenter": aug.name, "seed": seed, "test_acc": r["test_acc"],
                   "val_acc": r["val_acc"], "best_epoch": r["best_epoch"], "wall_s": round(r["wall_s"], 1)}
            if isinstance(aug, SmartAugmenter):
                rec["a_last"] = aug.last
            done[(cond, seed)] = rec
            log(f"{dataset} {cond} seed {seed}: test {r['test_acc']:.3f} val {r['val_acc']:.3f} "
                f"epoch {r['best_epoch']} ({r['wall_s']:.0f}s)")
            if runs_path:
                runs_path.parent.mkdir(parents=True, exist_ok=True)
                with open(runs_path, "a") as f:
                    f.write(json.dumps(rec, sort_keys=True) + "\n")
    result = summarise_table(dataset, conditions, seeds, done)
    result["setup"] = {"dataset": dataset, "size": size, "grey": True, "model": model, "epochs": epochs,
                       "batch_size": batch_size, "lr": lr, "schedule": "Adam + cosine to 0, best-val-epoch weights",
                       "n_train": len(tr), "n_val": len(va), "n_test": len(te), "classes": len(ds.classes),
                       "split_seed": split.seed, "device": device, "torch_threads": torch.get_num_threads()}
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    if out:
        atomic_write_json(out / "table.json", result)
        atomic_write_text(out / "table.md", table_markdown(result))
    return result


def summarise_table(dataset: str, conditions: Sequence[str], seeds: Sequence[int],
                    runs: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    """Per condition: mean ± std test accuracy and the difference to ``none`` (Welch 95% CI)."""
    rows = []
    base = [runs[("none", s)]["test_acc"] for s in seeds if ("none", s) in runs]
    for cond in conditions:
        accs = [runs[(cond, s)]["test_acc"] for s in seeds if (cond, s) in runs]
        if not accs:
            continue
        row = {"condition": cond, "augmenter": runs[(cond, seeds[0])]["augmenter"] if (cond, seeds[0]) in runs
               else cond, "test_acc": summarise(accs),
               "wall_s_per_run": float(np.mean([runs[(cond, s)]["wall_s"] for s in seeds if (cond, s) in runs]))}
        if cond != "none" and len(base) >= 2 and len(accs) >= 2:
            row["diff_vs_none"] = difference_ci(accs, base)
        rows.append(row)
    return {"dataset": dataset, "seeds": list(seeds), "rows": rows}


def table_markdown(result: dict[str, Any]) -> str:
    """A Markdown table of a ``run_table`` result."""
    lines = [f"### {result['dataset']} — test accuracy %, mean ± std over seeds {result['seeds']}", "",
             "| condition | test acc | Δ vs none [95% CI] | s/run |", "|---|---|---|---|"]
    for r in result["rows"]:
        t = r["test_acc"]
        d = fmt_diff(r["diff_vs_none"]) if "diff_vs_none" in r else "–"
        lines.append(f"| {r['augmenter']} | {fmt_pct(t['mean'], t['std'])} | {d} | {r['wall_s_per_run']:.0f} |")
    return "\n".join(lines) + "\n"
