"""The downstream protocol: does adding fake data to a real training set make a model better on real test data?

One protocol for every task (``fakevision.evaluate.task``: classification, landmarks, segmentation). Fixed real split
(train / val / test, made once from a split seed); for every fake:real ratio r and every seed, train the same model
from scratch on the real training set plus ``round(r * n_real)`` fake images (drawn per seed), select the weights on
the *real* validation split, test on the real test split. Ratio 0 is the real-only baseline; ratio ``inf`` is fake
only (no real training image; ``fake_n`` fake images, default all). Every other ratio reports its difference to
ratio 0 with a Welch 95% CI (and, for a metric that is not a percentage, the relative difference with its CI).
Fake images never enter validation or test.

``real_n`` keeps only that many real training images per seed (a different random subset per seed, the same one
for every ratio of that seed): the few-labels regime. The leakage guard follows the subset: a fake sample whose
provenance parents include any real image this run may not train on (validation, test, or training images left out
by ``real_n``) is excluded before the draw, so fake data made from the whole real set cannot smuggle labels in.

>>> import numpy as np
>>> from fakevision.io.labelled import LabelledImages, Split
>>> rng = np.random.default_rng(0)
>>> y = np.repeat([0, 1], 30); x = (rng.random((60, 8, 8, 1)) * 100 + 100 * y[:, None, None, None]).astype(np.uint8)
>>> real = LabelledImages(x, y, ["a", "b"], [str(i) for i in range(60)])
>>> split = Split(np.arange(0, 60, 3), np.arange(1, 60, 3), np.arange(2, 60, 3), 0)
>>> res = run_protocol(real, split, real.subset(split.train), ratios=(0, 1), seeds=(0, 1), epochs=2)
>>> [r["ratio"] for r in res["rows"]], "diff_vs_real_only" in res["rows"][1]
([0.0, 1.0], True)
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fakevision.core.errors import InputError
from fakevision.evaluate.classification import (
    ClassificationTask,
    align_classes,
    draw_fake,
)
from fakevision.evaluate.stats import (
    difference_ci,
    fmt_diff,
    fmt_rel,
    fmt_value_diff,
    relative_difference_ci,
    summarise,
)
from fakevision.evaluate.task import Metric, Task
from fakevision.io.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from fakevision.io.labelled import Split

__all__ = ["FakeGuard", "align_classes", "draw_fake", "parse_ratio", "protocol_markdown", "protocol_plot_png",
           "protocol_run", "real_subset", "run_protocol", "write_protocol"]

FAKE_ONLY = math.inf


def parse_ratio(text: str | float) -> float:
    """A fake:real ratio: a number >= 0, or ``inf`` (fake only).

    >>> parse_ratio("2"), parse_ratio("inf"), parse_ratio("∞")
    (2.0, inf, inf)
    """
    t = str(text).strip().lower()
    if t in ("inf", "∞", "infinity", "fake-only"):
        return FAKE_ONLY
    try:
        r = float(t)
    except ValueError:
        raise ValueError(f"a ratio is a number >= 0 or 'inf', got {text!r}") from None
    if not r >= 0:
        raise ValueError(f"a ratio is a number >= 0 or 'inf', got {text!r}")
    return r


def ratio_json(r: float) -> float | str:
    """Ratios as JSON: numbers, and ``"inf"`` for fake only (JSON has no infinity)."""
    return "inf" if math.isinf(r) else float(r)


def _ratio_value(r: float | str) -> float:
    return FAKE_ONLY if r == "inf" else float(r)


def fmt_ratio(r: float | str) -> str:
    return "∞ (fake only)" if _ratio_value(r) == FAKE_ONLY else f"{float(r):g}"


class FakeGuard:
    """Which fake samples a run may use: none whose provenance parents include a real image of ``real_ids`` that the
    run may not train on (``keep(allowed)``: a mask, or None when the fake set has no parents)."""

    def __init__(self, real_ids: Sequence[str], parents: Sequence[Sequence[str]] | None) -> None:
        self.real = set(real_ids)
        self.parents = None if parents is None else [set(p) & self.real for p in parents]
        self._cache: dict[frozenset[str], np.ndarray] = {}

    def keep(self, allowed: Sequence[str]) -> np.ndarray | None:
        if self.parents is None:
            return None
        key = frozenset(allowed)
        if key not in self._cache:
            self._cache[key] = np.array([p <= key for p in self.parents], bool)
        return self._cache[key]


def real_subset(task: Task, train: Any, real_n: int | None, split_seed: int, seed: int) -> Any:
    """The real training images of one seed: all of them, or ``real_n`` drawn with (split seed, seed) -- the same
    subset for every ratio and condition of that seed."""
    if real_n is None:
        return train
    return train.subset(task.subsample(train, real_n, np.random.default_rng([split_seed, seed, 104729])))


def protocol_run(task: Task, train: Any, val: Any, test: Any, parts: Sequence[tuple[Any, FakeGuard, int]], seed: int,
                 fake_only: bool = False, fake_name: str = "fake") -> dict[str, Any]:
    """One training run of the protocol: ``train`` (this seed's real images; none when ``fake_only``) plus, from
    each (fake set, guard, n) of ``parts``, ``n`` fake images drawn from the samples the guard allows for this
    ``train``; returns the run's record (test metrics, validation value, sizes, time). The draw of part k uses the
    random stream (seed, 7919[, k]), so a run is the same whatever process runs it."""
    drawn, pools, n_fake = [], [], 0
    for k, (fake, guard, n) in enumerate(parts):
        keep = guard.keep(train.ids)
        pool = fake if keep is None else fake.subset(np.flatnonzero(keep))
        if keep is not None and not keep.any() and n > 0:
            raise InputError("every fake sample was made from real images this run may not train on (validation/"
                             "test, or outside --real-n); make fake data from the training split only", fake_name)
        n = len(pool) if n < 0 else int(n)
        idx = task.draw_fake(pool, n, np.random.default_rng([seed, 7919] if k == 0 else [seed, 7919, k]))
        drawn.append(pool.subset(idx))
        pools.append(len(pool) if keep is not None else None)
        n_fake += n
    if not drawn:
        fake_train = train.subset(np.zeros(0, np.int64))
    elif len(drawn) == 1:
        fake_train = drawn[0]
    else:
        from fakevision.evaluate.task import ArraySet

        fake_train = ArraySet.concat(drawn)
    real_part = train.subset(np.zeros(0, np.int64)) if fake_only else train
    r = task.fit(real_part, fake_train, val, test, seed)
    ratio = FAKE_ONLY if fake_only else (n_fake / len(train) if len(train) else 0.0)
    rec = {"ratio": ratio_json(ratio), "seed": seed, "n_real": len(real_part), "n_fake": n_fake,
           **{k: float(v) for k, v in r["test"].items()}, "val": float(r["val"]), "wall_s": round(r["wall_s"], 2)}
    rec.update({k: r[k] for k in ("best_epoch", "best_step") if k in r})
    if any(p is not None for p in pools):
        rec["fake_pool"] = pools if len(pools) > 1 else pools[0]
    return rec


def run_protocol(
    real: Any,
    split: Split,
    fake: Any,
    ratios: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    model: str = "smallcnn",
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 2e-3,
    device: str = "cpu",
    fake_name: str = "fake",
    log: Callable[[str], None] = lambda s: None,
    task: Task | None = None,
    real_n: int | None = None,
    fake_n: int | None = None,
    parents: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Real-only vs real+fake at each ratio, over seeds; returns the JSON-ready result.

    ``task`` defaults to classification with ``model``/``epochs``/``batch_size``/``lr``/``device``. ``parents``
    (one list of real ids per fake sample, e.g. ``fakevision.io.labelled.load_parents``) turns the leakage guard
    on; a fake set may also carry them itself (``ArraySet.parents``).
    """
    t0 = time.perf_counter()
    if task is None:
        task = ClassificationTask(model=model, epochs=epochs, batch_size=batch_size, lr=lr, device=device)
    ratios = sorted({float(r) for r in ratios} | {0.0})
    fake = task.align(fake, real)
    if parents is None:
        parents = getattr(fake, "parents", None)
    tr, va, te = (real.subset(s) for s in (split.train, split.val, split.test))
    if real_n is not None and not 0 < real_n <= len(tr):
        raise InputError(f"--real-n must be in 1..{len(tr)} (the real training split), got {real_n}",
                         real.name or None)
    guard = FakeGuard(real.ids, parents)
    metrics: tuple[Metric, ...] = task.metrics
    values: dict[float, dict[str, list[float]]] = {}
    runs = []
    held_in = guard.keep(tr.ids)  # fake samples made from validation/test images: never usable
    excluded = 0 if held_in is None else int((~held_in).sum())
    subsets = {seed: real_subset(task, tr, real_n, split.seed, seed) for seed in seeds}
    for ratio in ratios:
        for seed in seeds:
            tr_s = subsets[seed]
            if math.isinf(ratio):
                n = -1 if fake_n is None else int(fake_n)
            else:
                n = int(round(ratio * len(tr_s)))
            rec = protocol_run(task, tr_s, va, te, [(fake, guard, n)], seed, math.isinf(ratio), fake_name)
            rec["ratio"] = ratio_json(ratio)
            for m in metrics:
                values.setdefault(ratio, {}).setdefault(m.name, []).append(rec[m.name])
            runs.append(rec)
            primary = metrics[0]
            log(f"ratio {fmt_ratio(ratio)} seed {seed}: {primary.name} {rec[primary.name]:.4f} ({rec['wall_s']:.0f}s)")
    rows = []
    for ratio, vals in values.items():
        n_fake_row = [x["n_fake"] for x in runs if _ratio_value(x["ratio"]) == ratio]
        row: dict[str, Any] = {"ratio": ratio_json(ratio), "n_fake": int(n_fake_row[0]) if n_fake_row else 0}
        for m in metrics:
            row[m.name] = summarise(vals[m.name])
        if ratio != 0.0:
            p = metrics[0]
            row["diff_vs_real_only"] = difference_ci(vals[p.name], values[0.0][p.name])
            if not p.percent:
                row["rel_diff_vs_real_only"] = relative_difference_ci(vals[p.name], values[0.0][p.name])
        rows.append(row)
    image_shape = list(np.asarray(real.images).shape[1:])
    return {
        "task": task.name, "real": real.name, "fake": fake_name, **task.describe(),
        "metrics": [m.to_json() for m in metrics], "seeds": list(seeds), "split_seed": split.seed,
        "n_train": len(tr), "real_n": real_n, "n_val": len(va), "n_test": len(te), "image_shape": image_shape,
        "fake_excluded_for_leakage": excluded, "rows": rows, "runs": runs,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def result_metrics(res: dict[str, Any]) -> list[Metric]:
    """The metrics of a result (results written before tasks existed are classification accuracy)."""
    from fakevision.evaluate.classification import ACCURACY

    return [Metric.from_json(m) for m in res["metrics"]] if res.get("metrics") else [ACCURACY]


def fmt_summary(m: Metric, s: dict[str, Any]) -> str:
    """``mean ± std`` of one metric in its own format."""
    if m.percent:
        return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}"
    return f"{s['mean']:.{m.digits}f} ± {s['std']:.{m.digits}f}"


def fmt_row_diff(m: Metric, row: dict[str, Any]) -> str:
    """The Δ cell of a row: points for percentages, else value difference and relative difference."""
    if "diff_vs_real_only" not in row:
        return "–"
    if m.percent:
        return fmt_diff(row["diff_vs_real_only"])
    text = fmt_value_diff(row["diff_vs_real_only"], m.digits)
    if "rel_diff_vs_real_only" in row:
        text += f"; {fmt_rel(row['rel_diff_vs_real_only'])}"
    return text


def protocol_table(res: dict[str, Any]) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, caption) of a protocol result, shared by the Markdown and HTML renderings."""
    ms = result_metrics(res)
    head = ["fake:real", "fake images", *[m.label + (" (%)" if m.percent else "") for m in ms],
            "Δ vs real only [95% CI]"]
    rows = [[fmt_ratio(r["ratio"]), str(r["n_fake"]), *[fmt_summary(m, r[m.name]) for m in ms], fmt_row_diff(ms[0], r)]
            for r in res["rows"]]
    task = res.get("task", "classification")
    what = "" if task == "classification" else f"{task}, "
    n = f", {res['real_n']} real training images per seed" if res.get("real_n") else ""
    cap = (f"{res['real']} + {res['fake']}: {what}model {res['model']}, seeds {res['seeds']}{n}; Δ of "
           f"{ms[0].label}")
    return head, rows, cap


def protocol_markdown(res: dict[str, Any]) -> str:
    """Markdown table of a protocol result."""
    head, rows, cap = protocol_table(res)
    lines = [f"### {cap}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def protocol_plot_png(res: dict[str, Any]) -> bytes:
    """The primary metric vs fake:real ratio with ±1 std error bars (fake only drawn at the right end), as PNG bytes
    (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = result_metrics(res)[0]
    scale = 100.0 if m.percent else 1.0
    finite = [float(r["ratio"]) for r in res["rows"] if r["ratio"] != "inf"]
    right = (max(finite) * 1.5 if finite and max(finite) > 0 else 1.0)
    xs = [right if r["ratio"] == "inf" else float(r["ratio"]) for r in res["rows"]]
    mean = [scale * r[m.name]["mean"] for r in res["rows"]]
    std = [scale * r[m.name]["std"] for r in res["rows"]]
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=100)
    ax.errorbar(xs, mean, yerr=std, marker="o", capsize=4)
    ax.axhline(mean[0], color="grey", lw=0.8, ls="--", label="real only")
    if any(r["ratio"] == "inf" for r in res["rows"]):
        ax.set_xticks([*finite, right], [f"{x:g}" for x in finite] + ["∞"])
    ax.set_xlabel("fake : real ratio")
    ax.set_ylabel(m.label + (" (%)" if m.percent else ""))
    ax.set_title(f"{res['real']} + {res['fake']} (n={len(res['seeds'])} seeds)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def write_protocol(res: dict[str, Any], out_dir: str | Path) -> None:
    """``protocol.json``, ``protocol.md`` and ``protocol.png`` under ``out_dir`` (each atomically)."""
    out = Path(out_dir)
    atomic_write_json(out / "protocol.json", res)
    atomic_write_text(out / "protocol.md", protocol_markdown(res))
    atomic_write_bytes(out / "protocol.png", protocol_plot_png(res))
