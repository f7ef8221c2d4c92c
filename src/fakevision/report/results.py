"""Evaluation results in the report: whatever ``fakevision evaluate`` / ``smart`` wrote, found in the output folder
or in ``--results DIR`` (searched two folders deep; either may be a storage URL such as ``s3://bucket/run``, read
through ``fakevision.io.storage``), as sections with formatted tables and plots.

What is read (the JSON files the measurement code writes; unknown keys are ignored, so richer results keep
working):

* ``protocol.json`` (downstream protocol, any task): ``rows`` of ``ratio`` (a number, or ``"inf"``/``null`` for
  fake only), ``n_fake`` and metric entries ``{"mean", "std", "n"}`` (``test_acc``, ``test_nme``, ``test_iou``, ...;
  each plotted against the ratio with std error bars), optionally ``diff_vs_real_only`` ``{"diff", "ci95"}`` and
  ``condition``/``source`` to draw several lines;
* ``distances.json``: ``fid`` / ``kid`` with their ``extractor`` (named beside every number), ``memorisation`` with
  ``closest_pairs``;
* ``table.json`` (the Smart Augmentation table) and ``adversarial.json``: rows of conditions with metric entries;
* ``task_table.json`` (``fakevision evaluate table``): its tables per metric and its plot (``task_table.png`` beside
  it, else drawn), as ``fakevision.evaluate.report`` renders them;
* ``faces_table.json`` (``experiments/faces_table.py``): the face-source table with its sample grids
  (``grid_<row>.png`` beside it), as ``report.faces`` renders it;
* any JSON holding ``closest_pairs`` or ``pairs`` (memorisation, identity leak): a list of ``{"fake", "real",
  "distance", "flagged", "fake_png", "real_png"}`` (pictures as base64 PNG), shown side by side with a summary of
  the numbers beside them (``flagged``, ``n_fake``, ``threshold``, ``expected_chance_fraction``, ``extractor``).
"""

from __future__ import annotations

import html
import json
import math
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakevision.io.storage import Storage, as_storage
from fakevision.report import plots

RESULT_NAMES = ("protocol.json", "distances.json", "table.json", "task_table.json", "adversarial.json",
                "faces_table.json")
LOWER_IS_BETTER = ("nme", "error", "fid", "kid", "loss", "failure", "distance")


def _e(x: Any) -> str:
    return html.escape(str(x))


@dataclass(frozen=True)
class ResultFile:
    """A result JSON where it was found: its storage (a local folder or a URL, ``fakevision.io.storage``) and its
    relative path there, so an output in a bucket has its results read from the bucket like a folder's.

    >>> import tempfile
    >>> root = as_storage(tempfile.mkdtemp())
    >>> root.write_text("ev/protocol.json", "{}")
    >>> [(f.rel, f.name, f.read_bytes()) for f in find_results(root)]
    [('ev/protocol.json', 'protocol.json', b'{}')]
    """

    store: Storage
    rel: str

    @property
    def name(self) -> str:
        return posixpath.basename(self.rel)

    @property
    def key(self) -> str:
        """Where it is, once: the resolved path of a local file, else its URL."""
        local = self.store.local_path
        return str((local / self.rel).resolve()) if local is not None else self.store.url(self.rel)

    def read_bytes(self) -> bytes:
        return self.store.read_bytes(self.rel)

    def sibling(self, name: str) -> str:
        """The relative path of file ``name`` in the same folder."""
        folder = posixpath.dirname(self.rel)
        return f"{folder}/{name}" if folder else name

    def read_sibling(self, name: str) -> bytes | None:
        """File ``name`` of the same folder (a plot, a sample grid), or None when it is not there."""
        rel = self.sibling(name)
        try:
            return self.store.read_bytes(rel) if self.store.is_file(rel) else None
        except OSError:
            return None


def find_results(*folders: Storage | str | Path | None) -> list[ResultFile]:
    """Result JSON files in ``folders`` (local folders, storage URLs or ``Storage``) and their sub-folders (two
    levels), in path order, without duplicates: the known names, and any other JSON that holds pairs
    (memorisation / identity leak). A folder that is not there holds nothing."""
    seen: dict[str, ResultFile] = {}
    stores = [as_storage(f) for f in folders if f is not None]
    for store in stores:
        local = store.local_path
        if local is not None and not local.is_dir():
            continue
        for depth in ("*.json", "*/*.json", "*/*/*.json"):
            try:
                found = store.glob(depth)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for rel in found:
                if any(part.startswith(".") for part in rel.split("/")):
                    continue
                f = ResultFile(store, rel)
                if f.name in RESULT_NAMES or (f.name not in ("recipe.json", "info.json", "annotations.json")
                                              and _has_pairs_file(f)):
                    seen.setdefault(f.key, f)
    return list(seen.values())


def _has_pairs_file(f: ResultFile) -> bool:
    local = f.store.local_path
    if local is not None and (local / f.rel).stat().st_size > 50_000_000:
        return False
    try:
        with f.store.open_read(f.rel) as fh:
            head = fh.read(16384).decode("utf-8", errors="replace")[:4096]
    except OSError:
        return False
    stem = f.name.rsplit(".", 1)[0]
    return '"closest_pairs"' in head or '"pairs"' in head or ("pairs" in stem and head.lstrip().startswith("{"))


def _metrics(row: dict[str, Any]) -> list[str]:
    return [k for k, v in row.items() if isinstance(v, dict) and "mean" in v and "std" in v]


def _ratio(v: Any) -> float:
    if v is None or (isinstance(v, str) and v.lower() in ("inf", "infinity", "fake-only", "fake only")):
        return math.inf
    return float(v)


def _lower_better(metric: str) -> bool:
    return any(w in metric.lower() for w in LOWER_IS_BETTER)


_NAMES = {"acc": "accuracy", "nme": "NME", "iou": "IoU", "auc": "AUC"}


def _pretty(metric: str) -> str:
    """A metric key as a label: ``test_acc`` -> ``accuracy``, ``test_nme`` -> ``NME``, ``val_iou`` -> ``val IoU``.

    >>> _pretty("test_acc"), _pretty("test_nme"), _pretty("val_iou"), _pretty("test_failure_rate")
    ('accuracy', 'NME', 'val IoU', 'failure rate')
    """
    words = metric.removeprefix("test_").split("_")
    return " ".join(_NAMES.get(w, w) for w in words)


def fmt_metric(metric: str, stat: dict[str, Any]) -> str:
    """``mean ± std`` of a metric entry; accuracies, IoU and Dice (fractions) as percentages.

    >>> fmt_metric("test_acc", {"mean": 0.8812, "std": 0.0262}), fmt_metric("nme", {"mean": 0.0712, "std": 0.004})
    ('88.1 ± 2.6 %', '0.0712 ± 0.004')
    """
    m, s = float(stat["mean"]), float(stat.get("std") or 0.0)
    if _is_fraction(metric):
        return f"{100 * m:.1f} ± {100 * s:.1f} %"
    return f"{m:.3g} ± {s:.2g}"


def _is_fraction(metric: str) -> bool:
    return any(w in metric.lower() for w in ("acc", "iou", "dice", "auc", "rate"))


def _diff(d: dict[str, Any] | None, metric: str) -> str:
    if not d:
        return "–"
    scale, unit = (100.0, " pts") if _is_fraction(metric) else (1.0, "")
    lo, hi = (float(x) * scale for x in d.get("ci95", [math.nan, math.nan]))
    star = " *" if d.get("excludes_zero") else ""
    return f"{float(d['diff']) * scale:+.2f}{unit} [{lo:+.2f}, {hi:+.2f}]{star}"


def _numeric(cell: str) -> bool:
    return bool(cell) and (cell[0].isdigit() or cell[0] in "+-−–")


def _table(head: list[str], rows: list[list[str]], caption: str = "") -> str:
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="{"n" if i and _numeric(c) else ""}">{_e(c)}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="fv-table">{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def protocol_section(res: dict[str, Any], key: str) -> str:
    """The downstream protocol: each metric against the fake:real ratio (mean ± std over seeds), and its table."""
    rows = res.get("rows") or []
    if not rows:
        return "<p>No rows in this protocol result.</p>"
    metrics = list(dict.fromkeys(m for r in rows for m in _metrics(r)))
    parts = []
    setup = ", ".join(f"{k} {res[k]}" for k in ("task", "model", "epochs", "n_train", "real_n") if k in res)
    seeds = res.get("seeds")
    for j, metric in enumerate(metrics):
        pts = [{"condition": str(r.get("condition") or r.get("source") or res.get("fake") or "fake"),
                "ratio": _ratio(r.get("ratio")), "mean": r[metric]["mean"], "std": r[metric].get("std", 0.0),
                "n": r[metric].get("n", "?")} for r in rows if metric in r]
        scale = 100.0 if _is_fraction(metric) else 1.0
        for p in pts:
            p["mean"], p["std"] = float(p["mean"]) * scale, float(p["std"] or 0.0) * scale
        label = _pretty(metric) + (" (%)" if scale == 100.0 else "")
        parts.append(plots.metric_vs_ratio(pts, f"{key}-m{j}", label, not _lower_better(metric),
                                           f"{_pretty(metric)} vs fake:real ratio"))
    head = ["fake:real", "fake samples"] + [_pretty(m) for m in metrics] + ["Δ vs real only [95% CI]"]
    table_rows = []
    for r in rows:
        ratio = _ratio(r.get("ratio"))
        cells = ["∞" if math.isinf(ratio) else f"{ratio:g}", f"{int(r.get('n_fake', 0)):,}"]
        cells += [fmt_metric(m, r[m]) if m in r else "–" for m in metrics]
        diff = r.get("diff_vs_real_only") or next((r[k] for k in r if k.startswith("diff_vs_real_only")), None)
        cells.append(_diff(diff if isinstance(diff, dict) else None, metrics[0]))
        if r.get("condition"):
            cells[0] = f"{r['condition']} {cells[0]}"
        table_rows.append(cells)
    cap = (f"{res.get('real', '?')} + {res.get('fake', '?')}: mean ± std over seeds {seeds}"
           + (f"; {setup}" if setup else "") + " (* = the 95% CI excludes 0)")
    return f'<div class="plots">{"".join(parts)}</div>' + _table(head, table_rows, cap)


def conditions_section(res: dict[str, Any], name_key: str) -> str:
    """A table of conditions (Smart Augmentation table, adversarial training) with every metric formatted."""
    rows = res.get("rows") or []
    metrics = list(dict.fromkeys(m for r in rows for m in _metrics(r)))
    head = ["condition"] + [_pretty(m) for m in metrics]
    has_diff = any("diff_vs_none" in r for r in rows)
    if has_diff:
        head.append("Δ vs none [95% CI]")
    out = []
    for r in rows:
        cells = [str(r.get(name_key) or r.get("condition") or r.get("training") or "?")]
        cells += [fmt_metric(m, r[m]) if m in r else "–" for m in metrics]
        if has_diff:
            cells.append(_diff(r.get("diff_vs_none"), metrics[0] if metrics else "acc"))
        out.append(cells)
    cap = f"{res.get('dataset', '')}: mean ± std over seeds {res.get('seeds', '?')}"
    return _table(head, out, cap)


def distances_section(res: dict[str, Any]) -> str:
    """FID and KID, each with the extractor that produced it, and the memorisation summary."""
    rows = []
    fid, kid = res.get("fid"), res.get("kid")
    if isinstance(fid, dict):
        rows.append(["FID", f"{float(fid['value']):.3f}", str(fid.get("extractor", "?")),
                     f"n = {fid.get('n1', '?')} / {fid.get('n2', '?')}. " + " ".join(fid.get("notes", []))])
    ref = res.get("fid_real_test_vs_train")
    if isinstance(ref, dict):
        rows.append(["FID, real vs real (floor)", f"{float(ref['value']):.3f}", str(ref.get("extractor", "?")),
                     "two real splits: what no generator can beat"])
    if isinstance(kid, dict):
        rows.append(["KID", f"{float(kid['mean']):.5f} ± {float(kid.get('std', 0)):.5f}",
                     str(kid.get("extractor", "?")), f"{kid.get('subsets', '?')} subsets of "
                     f"{kid.get('subset_size', '?')}. " + " ".join(kid.get("notes", []))])
    mem = res.get("memorisation")
    if isinstance(mem, dict):
        rows.append(["near-copies flagged", f"{mem.get('flagged', 0):,} of {mem.get('n_fake', 0):,} "
                     f"({100 * float(mem.get('flagged_fraction', 0)):.1f} %)", str(mem.get("extractor", "?")),
                     f"chance level {100 * float(mem.get('expected_chance_fraction', 0)):.1f} %; median nearest-"
                     f"neighbour distance fake / held-out real {float(mem.get('median_ratio', math.nan)):.2f}"])
    cap = f"{res.get('real', '?')} vs {res.get('fake', '?')}"
    return _table(["measure", "value", "extractor", "notes"], rows, cap)


def pairs_section(data: dict[str, Any], key: str) -> str:
    """Closest pairs side by side (fake | its nearest real), with what the numbers beside them mean."""
    pairs = data.get("closest_pairs") or data.get("pairs") or []
    cards = []
    for p in pairs[:24]:
        if not (p.get("fake_png") and p.get("real_png")):
            continue
        flag = ' <b class="bad">flagged</b>' if p.get("flagged") else ""
        dist = f"{float(p['distance']):.3g}" if p.get("distance") is not None else "?"
        cards.append(
            '<figure class="pair">'
            f'<img alt="fake {_e(p.get("fake", ""))}" src="data:image/png;base64,{p["fake_png"]}">'
            f'<img alt="real {_e(p.get("real", ""))}" src="data:image/png;base64,{p["real_png"]}">'
            f'<figcaption>fake {_e(p.get("fake", "?"))}<br>nearest real {_e(p.get("real", "?"))}<br>distance '
            f"{dist}{flag}</figcaption></figure>")
    if not cards:
        return ""
    bits = []
    if "flagged" in data and "n_fake" in data:
        bits.append(f"{int(data['flagged']):,} of {int(data['n_fake']):,} fake samples flagged")
    if "expected_chance_fraction" in data:
        bits.append(f"chance level {100 * float(data['expected_chance_fraction']):.1f} %")
    if "threshold" in data:
        bits.append(f"threshold {float(data['threshold']):.3g}")
    if "extractor" in data:
        bits.append(f"features: {_e(data['extractor'])}")
    note = ("; ".join(bits) + ". ") if bits else ""
    return (f'<p>{note}The {len(cards)} fake samples closest to a real training sample, each beside that sample '
            f'(left fake, right real):</p><div class="pairs" id="{_e(key)}">{"".join(cards)}</div>')


def results_sections(files: list[ResultFile]) -> list[dict[str, str]]:
    """One section per result file: ``title``, ``where`` (its path relative to the folder it was found in: the
    output, a ``--results`` folder) and ``html``; an unreadable file becomes a section saying so."""
    out = []
    for i, f in enumerate(files):
        where = f.rel
        try:
            res = json.loads(f.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as e:
            out.append({"title": where, "where": where, "html": f'<p class="bad">cannot read {_e(where)}: {_e(e)}</p>'})
            continue
        if not isinstance(res, dict):
            continue
        key = f"res{i}"
        body = ""
        try:
            if f.name == "protocol.json":
                body = protocol_section(res, key)
                title = f"Downstream protocol{': ' + str(res['task']) if res.get('task') else ''}"
            elif f.name == "distances.json":
                body = distances_section(res)
                mem = res.get("memorisation") or {}
                body += pairs_section(mem, key + "-pairs") if isinstance(mem, dict) else ""
                title = "Distribution distance and memorisation"
            elif f.name == "table.json":
                body, title = conditions_section(res, "augmenter"), "Smart Augmentation table"
            elif f.name == "task_table.json":
                from fakevision.evaluate.report import render_task_table

                body = render_task_table(res, f.read_sibling(f.name.removesuffix(".json") + ".png"))
                title = f"Task table{': ' + str(res['table']) if res.get('table') else ''}"
            elif f.name == "faces_table.json":
                from fakevision.report.faces import faces_table_section

                rows = res["rows"] if isinstance(res.get("rows"), dict) else {}
                grids = {name: png for name in rows if (png := f.read_sibling(f"grid_{name}.png"))}
                body, title = faces_table_section(res, grids), "Face sources: landmarks, identity, distance, speed"
            elif f.name == "adversarial.json":
                body, title = conditions_section(res, "training"), "Adversarial training"
            else:
                body = pairs_section(res, key + "-pairs")
                title = str(res.get("title") or res.get("kind") or f.name.rsplit(".", 1)[0].replace("_", " "))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            body, title = f'<p class="bad">{_e(where)}: unexpected layout ({_e(type(e).__name__)}: {_e(e)})</p>', where
        if body:
            out.append({"title": title, "where": where, "html": body})
    return out
