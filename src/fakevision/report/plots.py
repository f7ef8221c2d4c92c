"""The report's plots: matplotlib figures written as inline SVG.

Why matplotlib SVG rather than a JavaScript plotting library: matplotlib is already a dependency (the evaluation
plots use it), it is the best-kept plotting library in Python, and SVG is vector (sharp at any zoom, prints well),
text stays text (searchable, small), and it needs no script at view time: the page works offline and with
JavaScript off, and there is no minified library to vendor and keep patched. The interactivity a report needs
(hover values) is given by a ``<title>`` on every bar and point, which browsers show as a tooltip.

Figures use the object-oriented API (no pyplot state, no GUI backend), fixed sizes, and a per-figure hash salt so
SVG element ids are reproducible and never collide between the figures of one page.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from fakevision.report.params import Series

INK = "#334"
ACCENT = "#3b6ea8"
FAKE = "#d9822b"


def _figure(width: float, height: float, layout: Any = "constrained") -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=96, layout=layout)
    return fig


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#999")
    ax.tick_params(colors=INK, labelsize=8)
    ax.title.set_fontsize(9)
    ax.xaxis.label.set_fontsize(8)
    ax.yaxis.label.set_fontsize(8)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)


def to_svg(fig: Any, key: str, titles: Sequence[str] = ()) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no date); ``key`` salts its element ids;
    ``titles`` become tooltips of the bars/points, in drawing order (``<title>`` in each ``<g id="fvtip...">``)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key, "svg.fonttype": "none", "font.family": "sans-serif"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)  # RDF boilerplate, ~600 bytes
    for i, t in enumerate(titles):
        tip = t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        svg = svg.replace(f'<g id="fvtip{i}">', f'<g id="fvtip{i}"><title>{tip}</title>', 1)
    # ids (figure_1, clip paths, markers) must be unique in the page that holds many figures: prefix them all
    pre = _safe(key) + "-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{pre}{m.group(1)}"', svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{pre}{m.group(1)}"', svg)
    return re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{pre}{m.group(1)})", svg)


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", key)


def _tips(artists: Sequence[Any]) -> None:
    for i, a in enumerate(artists):
        a.set_gid(f"fvtip{i}")


def fmt(v: float) -> str:
    """A number for a label: up to 3 significant digits, integers with thousands separators.

    >>> fmt(1234.0), fmt(0.01234), fmt(3.14159)
    ('1,234', '0.0123', '3.14')
    """
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def bar_chart(counts: dict[str, int], key: str, title: str, xlabel: str = "count", width: float = 6.0) -> str:
    """Horizontal bars (one per name, largest first), each labelled with its count: readable with many long
    names, and the length compares at a glance.

    >>> svg = bar_chart({"box": 300, "face": 64}, "t", "instances per class")
    >>> svg.startswith("<svg") and "box: 300" in svg
    True
    """
    from matplotlib.ticker import MaxNLocator

    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:40]
    names = [str(k) for k, _ in items][::-1]
    values = [v for _, v in items][::-1]
    fig = _figure(width, 0.45 + 0.24 * max(len(items), 1))
    ax = fig.add_subplot()
    bars = ax.barh(names, values, color=ACCENT, height=0.7)
    _tips(bars)
    top = max(values) if values else 1
    for b, v in zip(bars, values, strict=True):
        ax.text(b.get_width() + top * 0.01, b.get_y() + b.get_height() / 2, f"{v:,}", va="center", fontsize=7.5,
                color=INK)
    ax.set_xlim(0, top * 1.12)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left")
    _style(ax)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    return to_svg(fig, key, [f"{n}: {v:,}" for n, v in zip(names, values, strict=True)])


def histogram(series: Series, key: str, width: float = 3.1, height: float = 2.0) -> str:
    """A histogram of a numeric parameter (``numpy``'s automatic bins, at most 40; whole numbers a bar each) or bars
    of a categorical one, titled with the key path and n; every bar's tooltip gives its range and count. The y axis
    counts samples, or values where the key pools a list (``scene.objects[].radius``: one value per object).

    >>> s = Series("scene.light.ambient", numbers=[0.1, 0.2, 0.25, 0.3])
    >>> "scene.light.ambient" in histogram(s, "h")
    True
    """
    from matplotlib.ticker import MaxNLocator

    # fixed margins instead of constrained layout: a report draws dozens of these and the layout solver doubled
    # each one's drawing time (0.5 -> 0.25 s a histogram); the sizes are fixed, so the margins can be
    rotate = series.kind != "number" and len(series.categories) > 3
    fig = _figure(width, height, layout=None)
    fig.subplots_adjust(left=0.62 / width, right=1 - 0.12 / width, top=1 - 0.42 / height,
                        bottom=(0.62 if rotate else 0.32) / height)
    ax = fig.add_subplot()
    if series.kind == "number":
        v = np.asarray(series.numbers, np.float64)
        lo, hi = float(v.min()), float(v.max())
        if np.all(v == np.round(v)) and hi - lo <= 40:  # whole numbers (counts, variants): one bar per value
            values = np.arange(lo, hi + 1)
            counts = np.array([(v == x).sum() for x in values])
            bars = ax.bar(values, counts, width=0.8, color=ACCENT)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
            tips = [f"{fmt(x)}: {c:,}" for x, c in zip(values, counts, strict=True)]
        else:
            edges = np.histogram_bin_edges(v, bins="auto")
            if len(edges) > 41:
                edges = np.linspace(lo, hi, 41)
            counts, edges = np.histogram(v, bins=edges)
            bars = ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=ACCENT, edgecolor="white",
                          linewidth=0.4)
            tips = [f"[{fmt(a)}, {fmt(b)}): {c:,}" for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)]
        title = (f"{series.key}\nn={len(v):,} · min {fmt(lo)} · median {fmt(float(np.median(v)))} · "
                 f"max {fmt(hi)}")
    else:
        items = sorted(series.categories.items(), key=lambda kv: (-kv[1], kv[0]))
        names = [k for k, _ in items]
        bars = ax.bar(range(len(items)), [c for _, c in items], color=ACCENT)
        ax.set_xticks(range(len(items)), names, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        tips = [f"{k}: {c:,}" for k, c in items]
        title = f"{series.key}\nn={sum(series.categories.values()):,}"
    # the title starts at the figure's edge, not the axes' (the y label's width more room: the numbers fit)
    fig.suptitle(title, x=0.02, ha="left", fontsize=8, color=INK)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))  # counts: no 2.5 samples
    _tips(bars)
    ax.set_ylabel("values" if "[]" in series.key else "samples")  # pooled over records (objects) or a list
    _style(ax)
    return to_svg(fig, key, tips)


def metric_vs_ratio(points: Sequence[dict[str, Any]], key: str, metric: str, higher_is_better: bool,
                    title: str) -> str:
    """Mean ± std of a metric (accuracy, NME, IoU, ...) against the fake:real ratio, one line per condition, error
    bars from the seeds; the real-only mean is a dashed reference line.

    ``points``: dicts with ``condition`` (series name), ``ratio`` (a number; ``inf`` = fake only), ``mean``,
    ``std``, ``n`` (seeds).

    >>> pts = [{"condition": "fake", "ratio": r, "mean": 0.6 + r / 50, "std": 0.01, "n": 5} for r in (0, 1, 2)]
    >>> "±" in metric_vs_ratio(pts, "m", "accuracy", True, "t")
    True
    """
    ratios = sorted({float(p["ratio"]) for p in points}, key=lambda r: (math.isinf(r), r))
    pos = {r: i for i, r in enumerate(ratios)}
    fig = _figure(5.2, 3.0)
    ax = fig.add_subplot()
    tips: list[str] = []
    markers = []
    conditions = list(dict.fromkeys(str(p.get("condition", "fake")) for p in points))
    colours = [FAKE, ACCENT, "#5a9e4b", "#9b59b6", "#c0392b", "#7f8c8d"]
    for j, cond in enumerate(conditions):
        pts = sorted((p for p in points if str(p.get("condition", "fake")) == cond),
                     key=lambda p: pos[float(p["ratio"])])
        x = [pos[float(p["ratio"])] + (j - (len(conditions) - 1) / 2) * 0.06 for p in pts]
        y = [float(p["mean"]) for p in pts]
        e = [float(p.get("std") or 0.0) for p in pts]
        c = colours[j % len(colours)]
        ax.errorbar(x, y, yerr=e, color=c, marker="o", markersize=4, capsize=3, linewidth=1.2, label=cond)
        for xi, p in zip(x, pts, strict=True):
            dot = ax.plot([xi], [float(p["mean"])], "o", color=c, markersize=7, alpha=0.0)[0]
            markers.append(dot)
            tips.append(f"{cond}, ratio {_ratio(float(p['ratio']))}: {fmt(float(p['mean']))} ± "
                        f"{fmt(float(p.get('std') or 0))} (n={p.get('n', '?')})")
    base = [p for p in points if float(p["ratio"]) == 0.0]
    if base:
        ax.axhline(float(base[0]["mean"]), color="#888", linestyle="--", linewidth=0.8)
    _tips(markers)
    ax.set_xticks(range(len(ratios)), [_ratio(r) for r in ratios])
    ax.set_xlabel("fake : real ratio (0 = real only, ∞ = fake only)")
    arrow = "↑ better" if higher_is_better else "↓ better"
    ax.set_ylabel(f"{metric} ({arrow})")
    ax.set_title(title, loc="left")
    if len(conditions) > 1:
        ax.legend(fontsize=7, frameon=False)
    _style(ax)
    return to_svg(fig, key, tips)


def _ratio(r: float) -> str:
    return "∞" if math.isinf(r) else f"{r:g}"
