"""HTML fragments for the measurement results, for the project report to include.

A fragment is a self-contained ``<section class="fv-evaluate">``: tables of the numbers (mean ± std, differences
with CIs) and plots embedded as base64 PNG, so the report page needs no extra files. Every table names the
extractor / model / seeds that produced it. Text is escaped.

>>> res = {"dataset": "orl_identity", "seeds": [0, 1], "rows": [{"augmenter": "none", "condition": "none",
...        "test_acc": {"mean": 0.9, "std": 0.01, "n": 2}, "wall_s_per_run": 5.0}], "setup": {"model": "paper_b"}}
>>> html_ = render_smart_table(res)
>>> "<table" in html_ and "90.0 ± 1.0" in html_
True
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from fakevision.evaluate.stats import fmt_diff, fmt_pct


def _e(x: Any) -> str:
    return html.escape(str(x))


def _table(head: list[str], rows: list[list[str]], caption: str = "") -> str:
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="fv-table">{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def png_img(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as base64."""
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def render_smart_table(res: dict[str, Any]) -> str:
    """The Smart Augmentation / baselines table (``evaluate.smart_table.run_table`` result)."""
    rows = []
    for r in res["rows"]:
        t = r["test_acc"]
        d = fmt_diff(r["diff_vs_none"]) if "diff_vs_none" in r else "–"
        rows.append([r["augmenter"], fmt_pct(t["mean"], t["std"]), d, str(t["n"]), f"{r['wall_s_per_run']:.0f}"])
    setup = res.get("setup", {})
    cap = (f"{res['dataset']}: test accuracy %, mean ± std over seeds {res['seeds']}; model "
           f"{setup.get('model', '?')}, {setup.get('epochs', '?')} epochs, {setup.get('size', '?')} px")
    return _table(["condition", "test acc (%)", "Δ vs none, points [95% CI]", "seeds", "s/run"], rows, cap)


def render_protocol(res: dict[str, Any], plot_png: bytes | None = None) -> str:
    """Downstream protocol table (any task), plus the metric-vs-ratio plot (made from ``res`` when not given)."""
    from fakevision.evaluate.protocol import protocol_plot_png, protocol_table

    head, rows, cap = protocol_table(res)
    table = _table(head, rows, cap)
    return table + png_img(plot_png or protocol_plot_png(res), "metric vs fake:real ratio")


def render_task_table(res: dict[str, Any], plot_png: bytes | None = None) -> str:
    """A task table (``fakevision.evaluate.table``): one HTML table per metric (the first with differences to the
    baseline row and their CIs), the setup, and the metric-vs-N-real plot."""
    from fakevision.evaluate.table import table_plot_png, table_rows
    from fakevision.evaluate.task import Metric

    ms = [Metric.from_json(m) for m in res["metrics"]]
    p = ms[0]
    parts = []
    for m in ms:
        head, rows = table_rows(res, m, with_diff=m is p)
        better = "higher" if m.higher_is_better else "lower"
        cap = (f"{res['table']}: {res.get('real', '')}, {m.label}{' (%)' if m.percent else ''} ({better} is better), "
               f"mean ± std over seeds {res['seeds']}"
               + (f"; in brackets Δ vs '{res['baseline_row']}' at the same N, 95% CI" if m is p else ""))
        parts.append(_table(head, rows, cap))
    setup = res.get("setup", {})
    info = ", ".join(f"{k} {v}" for k, v in setup.items() if v is not None)
    parts.append(f"<p>{_e(res.get('description', ''))} Setup: {_e(info)}. Sum of run wall times "
                 f"{res.get('sum_of_run_wall_s', 0) / 60:.0f} min.</p>")
    parts.append(png_img(plot_png or table_plot_png(res), f"{p.label} vs real training images"))
    return "".join(parts)


def render_distances(res: dict[str, Any]) -> str:
    """FID / KID / memorisation numbers, each with the extractor that made it."""
    fid, kid, mem = res["fid"], res["kid"], res["memorisation"]
    rows = [
        ["FID", f"{fid['value']:.3f}", fid["extractor"], f"n = {fid['n1']} / {fid['n2']}; " + " ".join(fid["notes"])],
        ["KID", f"{kid['mean']:.5f} ± {kid['std']:.5f}", kid["extractor"],
         f"{kid['subsets']} subsets of {kid['subset_size']}; " + " ".join(kid["notes"])],
        ["near-copies flagged", f"{mem['flagged']} of {mem['n_fake']} ({100 * mem['flagged_fraction']:.1f}%)",
         mem["extractor"], f"chance level {100 * mem['expected_chance_fraction']:.0f}%; median NN ratio "
                           f"fake/held-out {mem['median_ratio']:.2f}"],
    ]
    idn = res.get("identity")
    if idn:
        rows.append(["identity leak flagged", f"{idn['flagged']} of {idn['n_fake']} ({100 * idn['flagged_fraction']:.1f}%)",
                     idn["extractor"], f"chance level {100 * idn['expected_chance_fraction']:.0f}%; identity variety "
                                       f"{idn['variety_vs_real']:.2f} of held-out real faces'"])
    return _table(["measure", "value", "extractor", "notes"], rows, "distribution distance and memorisation")


def render_adversarial(res: dict[str, Any]) -> str:
    """Clean vs adversarial accuracy of models trained without and with adversarial samples."""
    rows = []
    for r in res["rows"]:
        rows.append([r["training"], fmt_pct(r["clean_acc"]["mean"], r["clean_acc"]["std"]),
                     fmt_pct(r["fgsm_acc"]["mean"], r["fgsm_acc"]["std"]),
                     fmt_pct(r["onepixel_acc"]["mean"], r["onepixel_acc"]["std"])])
    cap = f"{res['dataset']}: accuracy % (mean ± std over seeds {res['seeds']}), FGSM ε = {res['epsilon']}"
    return _table(["training", "clean", "FGSM", "one-pixel"], rows, cap)


def render_fragment(results_dir: str | Path) -> str:
    """Everything found in ``results_dir``: ``table.json`` (SA table), ``task_table.json`` (+ ``task_table.png``),
    ``protocol.json`` (+ ``protocol.png``),
    ``distances.json``, ``adversarial.json``, ``grid.png`` (A's outputs beside their parents)."""
    d = Path(results_dir)
    parts = []
    if (d / "table.json").exists():
        parts.append(render_smart_table(json.loads((d / "table.json").read_text())))
    if (d / "task_table.json").exists():
        png = (d / "task_table.png").read_bytes() if (d / "task_table.png").exists() else None
        parts.append(render_task_table(json.loads((d / "task_table.json").read_text()), png))
    if (d / "protocol.json").exists():
        png = (d / "protocol.png").read_bytes() if (d / "protocol.png").exists() else None
        parts.append(render_protocol(json.loads((d / "protocol.json").read_text()), png))
    if (d / "distances.json").exists():
        parts.append(render_distances(json.loads((d / "distances.json").read_text())))
    if (d / "adversarial.json").exists():
        parts.append(render_adversarial(json.loads((d / "adversarial.json").read_text())))
    if (d / "grid.png").exists():
        parts.append("<figure>" + png_img((d / "grid.png").read_bytes(), "A's outputs beside their parents")
                     + "<figcaption>each row: parents, then A's output</figcaption></figure>")
    return f'<section class="fv-evaluate">{"".join(parts)}</section>'
