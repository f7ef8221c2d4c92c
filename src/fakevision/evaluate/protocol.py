"""The downstream protocol: does adding fake data to a real training set raise accuracy on real test data?

Fixed real split (train / val / test, made once from a split seed); for every fake:real ratio r and every seed,
train the same model from scratch on the real training set plus ``round(r * n_train)`` fake images (drawn per
seed, class-balanced as far as the fake set allows), select the epoch on the *real* validation split, test on the
real test split. Ratio 0 is the real-only baseline; each other ratio reports its difference to it with a Welch
95% CI. Fake images never enter validation or test.

>>> import numpy as np
>>> from fakevision.evaluate.data import LabelledImages, Split
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
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fakevision.core.errors import InputError
from fakevision.evaluate.data import LabelledImages, Split
from fakevision.evaluate.stats import difference_ci, fmt_diff, fmt_pct, summarise
from fakevision.evaluate.train import train_classifier
from fakevision.io.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text


def align_classes(fake: LabelledImages, real: LabelledImages) -> LabelledImages:
    """Re-index ``fake``'s labels to ``real``'s class list by name; an unknown fake class is an ``InputError``."""
    lookup = {c: i for i, c in enumerate(real.classes)}
    unknown = sorted(set(fake.classes) - set(lookup))
    if unknown:
        raise InputError(f"fake set has classes not in the real set: {unknown[:5]}", fake.name or None)
    if fake.images.shape[1:] != real.images.shape[1:]:
        raise InputError(f"fake images are {fake.images.shape[1:]}, real images {real.images.shape[1:]}",
                         fake.name or None)
    labels = np.array([lookup[fake.classes[i]] for i in fake.labels], np.int64)
    return LabelledImages(fake.images, labels, real.classes, fake.ids, fake.name)


def draw_fake(fake: LabelledImages, n: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` fake images, as class-balanced as the fake set allows (without replacement when possible)."""
    if n <= 0:
        return np.zeros(0, np.int64)
    if n > len(fake):
        raise InputError(f"ratio needs {n} fake images but the fake set has {len(fake)}", fake.name or None)
    pools = [rng.permutation(np.flatnonzero(fake.labels == c)) for c in range(num_classes)]
    pools = [p for p in pools if len(p)]
    out: list[int] = []
    pos = [0] * len(pools)
    while len(out) < n:  # round robin over classes that still have images
        for i, p in enumerate(pools):
            if pos[i] < len(p) and len(out) < n:
                out.append(int(p[pos[i]]))
                pos[i] += 1
    return np.array(out, np.int64)


def run_protocol(
    real: LabelledImages,
    split: Split,
    fake: LabelledImages,
    ratios: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    model: str = "smallcnn",
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 2e-3,
    device: str = "cpu",
    fake_name: str = "fake",
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Real-only vs real+fake at each ratio, over seeds; returns the JSON-ready result."""
    t0 = time.perf_counter()
    if 0 not in ratios:
        ratios = (0.0, *ratios)
    fake = align_classes(fake, real)
    tr, va, te = (real.subset(s) for s in (split.train, split.val, split.test))
    k = len(real.classes)
    accs: dict[float, list[float]] = {}
    runs = []
    for ratio in sorted(float(r) for r in ratios):
        n_fake = int(round(ratio * len(tr)))
        for seed in seeds:
            idx = draw_fake(fake, n_fake, k, np.random.default_rng([seed, 7919]))
            x = np.concatenate([tr.images, fake.images[idx]])
            y = np.concatenate([tr.labels, fake.labels[idx]])
            r = train_classifier(model, (x, y), (va.images, va.labels), (te.images, te.labels), k, epochs=epochs,
                                 batch_size=batch_size, lr=lr, seed=seed, device=device)
            accs.setdefault(ratio, []).append(r["test_acc"])
            runs.append({"ratio": ratio, "seed": seed, "n_fake": n_fake, "test_acc": r["test_acc"],
                         "val_acc": r["val_acc"], "best_epoch": r["best_epoch"], "wall_s": round(r["wall_s"], 2)})
            log(f"ratio {ratio} seed {seed}: test {r['test_acc']:.3f} ({r['wall_s']:.0f}s)")
    rows = []
    for ratio, a in accs.items():
        row: dict[str, Any] = {"ratio": ratio, "n_fake": int(round(ratio * len(tr))), "test_acc": summarise(a)}
        if ratio != 0.0:
            row["diff_vs_real_only"] = difference_ci(a, accs[0.0])
        rows.append(row)
    return {
        "real": real.name, "fake": fake_name, "model": model, "epochs": epochs, "lr": lr, "batch_size": batch_size,
        "schedule": "Adam + cosine to 0; weights of the best real-validation epoch", "device": device,
        "seeds": list(seeds), "split_seed": split.seed, "n_train": len(tr), "n_val": len(va), "n_test": len(te),
        "image_shape": list(real.images.shape[1:]), "rows": rows, "runs": runs,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def protocol_markdown(res: dict[str, Any]) -> str:
    """Markdown table of a protocol result."""
    lines = [f"### {res['real']} + {res['fake']}: test accuracy %, model {res['model']}, seeds {res['seeds']}", "",
             "| fake:real | fake images | test acc | Δ vs real only [95% CI] |", "|---|---|---|---|"]
    for r in res["rows"]:
        t = r["test_acc"]
        d = fmt_diff(r["diff_vs_real_only"]) if "diff_vs_real_only" in r else "–"
        lines.append(f"| {r['ratio']:g} | {r['n_fake']} | {fmt_pct(t['mean'], t['std'])} | {d} |")
    return "\n".join(lines) + "\n"


def protocol_plot_png(res: dict[str, Any]) -> bytes:
    """Accuracy vs fake:real ratio with ±1 std error bars, as PNG bytes (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = [r["ratio"] for r in res["rows"]]
    mean = [100 * r["test_acc"]["mean"] for r in res["rows"]]
    std = [100 * r["test_acc"]["std"] for r in res["rows"]]
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=100)
    ax.errorbar(ratios, mean, yerr=std, marker="o", capsize=4)
    ax.axhline(mean[0], color="grey", lw=0.8, ls="--", label="real only")
    ax.set_xlabel("fake : real ratio")
    ax.set_ylabel("test accuracy (%)")
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
