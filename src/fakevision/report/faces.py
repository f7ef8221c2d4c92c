"""The face-source table in the report: ``faces_table.json`` (``experiments/faces_table.py``, issue 12) as a
section — one row per face source, each column formatted with its unit, the best generated source marked per
column, the issue's goals beside the columns they are about, carried rows (†) and the real reference row marked as
such, the identity check's calibration, the morph trade-off when measured, and the sample grids
(``grid_<row>.png``) when they sit beside the JSON.

Why a section of its own: the table is the answer to "which face source should I use?", and its numbers only mean
something beside their context — the blank-image floor next to the landmark agreement, the chance level next to
the identity flags, the extractor next to FID/KID, and the pictures next to the numbers.

What is read (unknown keys are ignored; a missing measurement shows as "–" or "not measured", never as 0):

* ``rows``: ``{name: row}``; a row has ``nme_extent`` / ``nme_dlib`` ``{"median", "mean"}``,
  ``nme_blank_floor_extent`` ``{"median_nme"}``, ``identity`` (``flagged_fraction``, ``variety_vs_real``,
  ``expected_chance_fraction``, ``n_fake``; the real row ``held_out_people_flagged``), ``identity_n``,
  ``memorised_<extractor>`` (flagged fractions), ``fid_<x>`` / ``kid_<x>``, ``sharpness_vs_real``,
  ``faces_per_s_one_thread``, ``reference`` (the real set it is compared with), ``from`` (carried from an earlier
  run: marked †), ``training_photos`` (a row checked against its own model's training set), and optionally
  ``label`` (the row's name in words).
* Optional top-level keys: ``labels`` ``{name: words}``, ``extractor`` (the FID/KID feature extractor; otherwise the
  one named by the ``memorised_<extractor>`` key that matches the ``fid_<x>`` suffix), ``default`` (the row the
  default ``fakevision make`` writes), ``goals`` (see ``GOALS``; replaces the issue's goals key by key),
  ``memorisation_chance`` (default 0.02), ``identity_calibration``, ``morph_tradeoff``, ``n``, ``size``, ``celeba``,
  ``loadavg_at_start`` / ``loadavg_at_end``.

>>> res = {"n": 10, "rows": {
...     "real": {"n": 10, "reference": "faces68", "nme_extent": {"median": 0.042, "mean": 0.079},
...              "identity": {"held_out_people_flagged": 0.043}, "faces_per_s_one_thread": float("nan")},
...     "morph_k3": {"n": 10, "reference": "celeba", "nme_extent": {"median": 0.044, "mean": 0.103},
...                  "identity": {"flagged_fraction": 0.42, "variety_vs_real": 1.14}, "from": "prev_rows"},
...     "appearance64": {"n": 10, "reference": "celeba", "nme_extent": {"median": 0.049, "mean": 0.064},
...                      "identity": {"flagged_fraction": 0.006, "variety_vs_real": 1.05},
...                      "label": "shape-appearance faces (appearance64)"}}}
>>> t = table_rows(res)
>>> [(r.name, r.reference_row, r.carried) for r in t]   # the yardstick first, carried rows (†) last
[('real', True, False), ('appearance64', False, False), ('morph_k3', False, True)]
>>> [c.text for c in t[1].cells[:2]], t[1].cells[1].best, t[2].cells[1].best   # best median / best mean NME
(['shape-appearance faces (appearance64)', '0.049 / 0.064'], [False, True], [True, False])
>>> t[2].cells[4].text, t[2].cells[4].goal_met, t[1].cells[4].goal_met   # identity flags vs the goal <= 7 %
('42.0 %', [False], [True])
>>> "appearance64" in faces_table_section(res, {})
True
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GOALS", "LABELS", "TableRow", "faces_table_section", "table_rows"]

#: Words for the row names ``experiments/faces_table.py`` uses (a row's own ``label`` or the JSON's ``labels`` win).
LABELS = {
    "real": "real faces (helen_test, hand landmarks; CelebA held-out for identity)",
    "latent_gan": "latent-mapping GAN (gan_faces)", "morph_k3": "morph k = 3", "morph_k5": "morph k = 5",
    "appearance_pca": "shape-appearance, PCA texture", "appearance_began": "shape-appearance, BEGAN",
    "appearance_old": "shape-appearance PCA-64, 480 faces (shipped before)",
    "appearance_p05_m64": "shape-appearance PCA-64, 5 % of people (appearance64 config)",
    "appearance_p10_m64": "shape-appearance PCA-64, 10 % of people",
    "appearance_p10_m128": "shape-appearance PCA-128, 10 % of people",
    "appearance_p20_m256": "shape-appearance PCA-256, 20 % of people",
    "appearance_full_m64": "shape-appearance PCA-64, all training people",
    "appearance_began64": "shape-appearance BEGAN (n_gen 32), 20 % of people (appearance_began64 config)",
    "appearance_yaw64": "shape-appearance PCA-64 per yaw bin, 5 % of people (appearance_yaw64 config)",
}

#: Issue 12's goals, by column key: (comparison, value, what the goal says). A JSON's ``goals`` entry
#: ``{"nme": {"op": "<=", "value": 0.05, "text": "..."}}`` replaces the one of that key (``null`` removes it).
GOALS: dict[str, tuple[str, float, str]] = {
    "nme": ("<=", 0.06, "median ≤ 0.06 at 64² for the default source (real faces 0.043–0.047)"),
    "identity": ("<=", 0.07, "≤ 7 % flagged (chance 5 %)"),
    "variety": (">=", 0.9, "≥ 0.9 of real faces'"),
}

#: Columns measured as a ratio to the real faces' value (the real row shows 1 there).
RELATIVE = ("variety", "sharpness")

REFERENCE_NAMES = {"celeba": "CelebA held-out", "faces68": "faces_68pt helen_test"}


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any) -> float | None:
    """A finite number or None (missing, null, NaN, not a number)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def _get(row: Mapping[str, Any], *keys: str) -> float | None:
    v: Any = row
    for k in keys:
        if not isinstance(v, Mapping):
            return None
        v = v.get(k)
    return _num(v)


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


@dataclass
class Part:
    """One number of a cell (a cell may hold two: median / mean, pixels / features)."""

    value: float | None
    text: str
    better: str | None = None  # "min" | "max": which way is best; None: not ranked


@dataclass
class Cell:
    """A formatted cell: its parts, which of them is the best generated value, and whether it meets its goal."""

    parts: list[Part]
    missing: str = "–"
    best: list[bool] = field(default_factory=list)
    goal_met: list[bool | None] = field(default_factory=list)

    @property
    def text(self) -> str:
        if all(p.value is None for p in self.parts) and not any(p.text for p in self.parts):
            return self.missing
        return " / ".join(p.text if p.value is not None or p.text else "–" for p in self.parts)


@dataclass
class Column:
    key: str
    head: str
    unit: str
    cell: Callable[[Mapping[str, Any]], Cell]
    goal_part: int = 0  # which part of the cell a goal is about


@dataclass
class TableRow:
    """A row as shown: its name, label, whether it is the real reference or carried from an earlier run, cells."""

    name: str
    label: str
    reference_row: bool
    carried: bool
    default: bool
    cells: list[Cell]


def _nme(key: str) -> Callable[[Mapping[str, Any]], Cell]:
    def cell(r: Mapping[str, Any]) -> Cell:
        med, mean = _get(r, key, "median"), _get(r, key, "mean")
        return Cell([Part(med, f"{med:.3f}" if med is not None else "", "min"),
                     Part(mean, f"{mean:.3f}" if mean is not None else "", "min")])
    return cell


def _floor(r: Mapping[str, Any]) -> Cell:
    v = _get(r, "nme_blank_floor_extent", "median_nme")
    return Cell([Part(v, f"{v:.3f}" if v is not None else "")])


def _identity(r: Mapping[str, Any]) -> Cell:
    got = r.get("identity")
    idn: Mapping[str, Any] = got if isinstance(got, Mapping) else {}
    v = _num(idn.get("flagged_fraction"))
    if v is not None:
        n = _num(r.get("identity_n")) or _num(idn.get("n_fake"))
        return Cell([Part(v, _pct(v) + (f" (n = {int(n):,})" if n else ""), "min")], "not measured")
    held = _num(idn.get("held_out_people_flagged"))  # the real row: held-out people against the training people
    return Cell([Part(held, _pct(held) + " (held-out people)" if held is not None else "")], "not measured")


def _variety(r: Mapping[str, Any]) -> Cell:
    v = _get(r, "identity", "variety_vs_real")
    return Cell([Part(v, f"{v:.2f}" if v is not None else "", "max")], "not measured")


def _memorised(extractors: list[str]) -> Callable[[Mapping[str, Any]], Cell]:
    def cell(r: Mapping[str, Any]) -> Cell:
        parts = [Part(v, _pct(v) if v is not None else "", "min")
                 for v in (_num(r.get(f"memorised_{x}")) for x in extractors)]
        return Cell(parts if any(p.value is not None for p in parts) else [])
    return cell


def _fid(suffix: str) -> Callable[[Mapping[str, Any]], Cell]:
    def cell(r: Mapping[str, Any]) -> Cell:
        fid, kid = _num(r.get(f"fid_{suffix}")), _num(r.get(f"kid_{suffix}"))
        if fid is None and kid is None:
            return Cell([])
        return Cell([Part(fid, f"{fid:.2f}" if fid is not None else "", "min"),
                     Part(kid, f"{kid:.4f}" if kid is not None else "", "min")])
    return cell


def _sharpness(r: Mapping[str, Any]) -> Cell:
    v = _get(r, "sharpness_vs_real")
    return Cell([Part(v, f"{v:.2f}" if v is not None else "", "max")])


def _speed(r: Mapping[str, Any]) -> Cell:
    v = _get(r, "faces_per_s_one_thread")
    return Cell([Part(v, f"{v:,.0f}" if v is not None else "", "max")])


def _suffixes(rows: Mapping[str, Mapping[str, Any]], prefix: str) -> list[str]:
    return list(dict.fromkeys(k[len(prefix):] for r in rows.values() for k in r if k.startswith(prefix)))


def fid_extractor(res: Mapping[str, Any], suffix: str) -> str:
    """The feature extractor behind ``fid_<suffix>``: the JSON's ``extractor``, else the ``memorised_<name>`` key
    whose name starts with the suffix (the table measures both with one extractor), else the suffix itself.

    >>> fid_extractor({"rows": {"a": {"memorised_randconv-v1": 0.1, "fid_randconv": 1.0}}}, "randconv")
    'randconv-v1'
    >>> fid_extractor({"extractor": "inception-v3", "rows": {}}, "inception")
    'inception-v3'
    """
    if isinstance(res.get("extractor"), str):
        return str(res["extractor"])
    names = _suffixes(res.get("rows") or {}, "memorised_")
    return next((n for n in names if n.split("-")[0] == suffix or n.startswith(suffix)), suffix)


def columns(res: Mapping[str, Any]) -> list[Column]:
    """The table's columns for this result (extractors as the JSON names them)."""
    rows = res.get("rows") or {}
    mem = _suffixes(rows, "memorised_")
    chance = _num(res.get("memorisation_chance")) or 0.02
    id_chance = next((c for c in (_get(r, "identity", "expected_chance_fraction") for r in rows.values())
                      if c is not None), 0.05)
    cols = [
        Column("nme", "dlib NME, median / mean", "box: landmark extent; eye-centre normalised", _nme("nme_extent")),
        Column("nme_dlib", "dlib NME, dlib's box rule", "median / mean", _nme("nme_dlib")),
        Column("floor", "blank-image floor", "median NME, same boxes", _floor),
        Column("identity", "identity flags", f"dlib ResNet; chance {_pct(id_chance)}", _identity),
        Column("variety", "identity variety", "× real faces'", _variety),
    ]
    if mem:
        cols.append(Column("memorised", "memorised", f"{' / '.join(mem)}; chance {_pct(chance)}", _memorised(mem)))
    for suffix in _suffixes(rows, "fid_"):
        cols.append(Column(f"fid_{suffix}", "FID / KID", f"{fid_extractor(res, suffix)} features, vs held-out real",
                           _fid(suffix)))
    cols += [Column("sharpness", "sharpness", "× real faces'", _sharpness),
             Column("speed", "faces/s", "one thread, with landmarks", _speed)]
    return cols


def goals(res: Mapping[str, Any]) -> dict[str, tuple[str, float, str]]:
    """The issue's goals, with the JSON's ``goals`` entries replacing them key by key.

    >>> sorted(goals({"goals": {"nme": {"op": "<=", "value": 0.05, "text": "tighter"}, "variety": None}}).items())
    [('identity', ('<=', 0.07, '≤ 7 % flagged (chance 5 %)')), ('nme', ('<=', 0.05, 'tighter'))]
    """
    out = dict(GOALS)
    extra = res.get("goals")
    for k, g in (extra.items() if isinstance(extra, Mapping) else ()):
        if g is None:
            out.pop(k, None)
        elif isinstance(g, Mapping) and g.get("op") in ("<=", ">=") and _num(g.get("value")) is not None:
            out[k] = (str(g["op"]), float(g["value"]), str(g.get("text") or f"{g['op']} {g['value']}"))
    return out


def table_rows(res: Mapping[str, Any]) -> list[TableRow]:
    """The rows as shown: the real reference first, then the default source (``default``), the rows measured in
    this run in the JSON's order, and rows carried from an earlier run last; each cell's best and goal marks are
    computed over the generated sources (the real row is the yardstick, not a contender)."""
    rows = res.get("rows") or {}
    if not isinstance(rows, Mapping):
        raise TypeError("rows must be an object of name -> row")
    got = res.get("labels")
    labels: Mapping[str, Any] = got if isinstance(got, Mapping) else {}
    cols, gs = columns(res), goals(res)
    # the yardstick first, then the default source, then this run's rows in the JSON's order, carried rows last
    order = sorted(rows, key=lambda k: (k != "real", k != res.get("default"),
                                        isinstance(rows[k], Mapping) and "from" in rows[k]))
    out = []
    for name in order:
        r = rows[name]
        if not isinstance(r, Mapping):
            continue
        label = str(r.get("label") or labels.get(name) or LABELS.get(name) or name.replace("_", " "))
        cells = [Cell([Part(None, label)])] + [c.cell(r) for c in cols]
        if name == "real":  # columns relative to real faces are 1 there by definition
            for j, c in enumerate(cols, start=1):
                if c.key in RELATIVE and all(p.value is None for p in cells[j].parts):
                    cells[j] = Cell([Part(None, "1 (reference)")])
        out.append(TableRow(name, label, name == "real", "from" in r, name == res.get("default"), cells))
    for j, col in enumerate(cols, start=1):
        contenders = [t for t in out if not t.reference_row]
        width = max((len(t.cells[j].parts) for t in out), default=0)
        for t in out:
            t.cells[j].best = [False] * len(t.cells[j].parts)
            t.cells[j].goal_met = [None] * len(t.cells[j].parts)
        for p in range(width):
            vals = [(t, t.cells[j].parts[p]) for t in contenders if p < len(t.cells[j].parts)]
            ranked = [(t, part) for t, part in vals if part.value is not None and part.better]
            if len(ranked) >= 2:
                pick = min if ranked[0][1].better == "min" else max
                top = pick(part.value for _, part in ranked if part.value is not None)
                for t, part in ranked:
                    t.cells[j].best[p] = part.value == top
        goal = gs.get(col.key)
        if goal is not None:
            op, value, _ = goal
            for t in contenders:
                parts = t.cells[j].parts
                if col.goal_part < len(parts) and parts[col.goal_part].value is not None:
                    v = parts[col.goal_part].value
                    assert v is not None
                    t.cells[j].goal_met[col.goal_part] = v <= value if op == "<=" else v >= value
    return out


def _cell_html(c: Cell) -> str:
    if all(p.value is None for p in c.parts) and not any(p.text for p in c.parts):
        return _e(c.missing)
    bits = []
    for k, p in enumerate(c.parts):
        s = _e(p.text) if (p.value is not None or p.text) else "–"
        if k < len(c.best) and c.best[k]:
            s = f'<b class="best" title="best of the generated sources">{s}</b>'
        met = c.goal_met[k] if k < len(c.goal_met) else None
        if met is not None:
            s += ' <span class="ok" title="meets the goal">✓</span>' if met else \
                 ' <span class="bad" title="misses the goal">✗</span>'
        bits.append(s)
    return " / ".join(bits)


def _calibration(c: Mapping[str, Any]) -> str:
    held = _num(c.get("held_out_people_flagged"))
    if held is None:
        return ""
    q = _num(c.get("quantile")) or 0.05
    bits = [f"photos of held-out people flagged {_pct(held)} (n = {c.get('held_out_people_n', '?')}, chance "
            f"{_pct(q)})"]
    for key, words in (("training_people_new_photos", "held-out photos of training people"),
                       ("training_photos_leave_one_out", "each training photo against the other training faces "
                                                         "(leave one out)")):
        v = _num(c.get(f"{key}_flagged"))
        if v is not None:
            bits.append(f"{words} {_pct(v)} (n = {c.get(f'{key}_n', '?')})")
    thr = _num(c.get("threshold"))
    return ("Identity-check calibration: " + "; ".join(bits)
            + (f"; threshold {thr:.3f} (dlib ResNet distance)" if thr is not None else "") + ".")


def _tradeoff(trade: Any) -> str:
    if not isinstance(trade, list) or not trade:
        return ""
    body = []
    for t in trade:
        if not isinstance(t, Mapping):
            continue
        f, v, s = _num(t.get("flagged_fraction")), _num(t.get("variety")), _num(t.get("sharpness_vs_real"))
        body.append(f"<tr><td>{_e(t.get('k', '?'))}</td><td class=\"n\">{_pct(f) if f is not None else '–'}</td>"
                    f"<td class=\"n\">{f'{v:.2f}' if v is not None else '–'}</td>"
                    f"<td class=\"n\">{f'{s:.2f}' if s is not None else '–'}</td></tr>")
    return ('<table class="fv-table"><caption>Morphs: more faces blended (k) leak less identity and blur more'
            "</caption><thead><tr><th>morph k</th><th>identity flags</th><th>identity variety (× real)</th>"
            f"<th>sharpness (× real)</th></tr></thead><tbody>{''.join(body)}</tbody></table>")


def faces_table_section(res: Mapping[str, Any], grids: Mapping[str, bytes]) -> str:
    """The section's HTML: the table, its legend and calibration, the morph trade-off, and ``grids`` (row name ->
    PNG bytes of ``grid_<row>.png``) as captioned pictures beside it, in the table's row order."""
    rows, cols, gs = table_rows(res), columns(res), goals(res)
    head = ["<th>source</th>"]
    for c in cols:
        g = gs.get(c.key)
        goal = f'<br><small class="goal">goal: {_e(g[2])}</small>' if g else ""
        head.append(f"<th>{_e(c.head)}<br><small>{_e(c.unit)}</small>{goal}</th>")
    body = []
    for t in rows:
        tags = []
        if t.reference_row:
            tags.append('<small class="tag">reference</small>')
        if t.default:
            tags.append('<small class="tag">default</small>')
        dagger = ' <span title="carried from an earlier run">†</span>' if t.carried else ""
        raw = (res.get("rows") or {})[t.name]
        ref = REFERENCE_NAMES.get(str(raw.get("reference")), "")
        ref_note = f'<br><small>vs {_e(ref)}</small>' if ref else ""
        photos = _num(raw.get("training_photos"))
        if photos:  # a row checked against its own model's training set (faces_table --row-people)
            ref_note += f"<br><small>identity / memorisation vs its {int(photos):,} training photos</small>"
        cls = " ".join(k for k, on in (("reference", t.reference_row), ("carried", t.carried),
                                       ("default", t.default)) if on)
        cells = "".join(f'<td class="n">{_cell_html(c)}</td>' for c in t.cells[1:])
        body.append(f'<tr class="{cls}" data-row="{_e(t.name)}"><th scope="row">{_e(t.label)}{dagger} '
                    f"{' '.join(tags)}{ref_note}</th>{cells}</tr>")
    n, size = _num(res.get("n")), _num(res.get("size"))
    cap = [(f"{int(n):,} faces per source" if n else "faces per source as listed")
           + (f" at {int(size)}×{int(size)}" if size else ""),
           "landmark agreement = dlib's 68 points against the written ones (lower is better; the blank-image floor "
           "is what dlib scores on an empty picture with the same boxes)",
           "bold = best of the generated sources in that column; ✓ / ✗ = meets / misses the goal"]
    sets = res.get("celeba")
    if isinstance(sets, Mapping) and _num(sets.get("train")) and _num(sets.get("held")):
        cap.append(f"CelebA sets: {int(sets['train']):,} training photos, {int(sets['held']):,} held-out photos")
    load = [x for x in (res.get("loadavg_at_start"), res.get("loadavg_at_end")) if isinstance(x, list) and x]
    if load:
        cap.append("load average " + " → ".join(f"{float(x[0]):.1f}" for x in load))
    table = (f'<table class="fv-table faces-table"><caption>{_e("; ".join(cap))}.</caption><thead><tr>'
             f'{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody></table>')
    notes = []
    carried = [t for t in rows if t.carried]
    if carried:
        srcs = sorted({str((res.get("rows") or {})[t.name].get("from")).rstrip("/").rsplit("/", 1)[-1]
                       for t in carried})
        notes.append(f"† {', '.join(_e(t.label) for t in carried)}: carried from an earlier run of the table "
                     f"({_e(', '.join(srcs))}), not measured in this one; its training and reference sets may "
                     "differ (see the JSON).")
    cal = res.get("identity_calibration")
    if isinstance(cal, Mapping) and _calibration(cal):
        notes.append(_e(_calibration(cal)))
    html_notes = "".join(f'<p class="note">{s}</p>' for s in notes)
    figs = []
    for t in rows:
        png = grids.get(t.name)
        if png:
            b64 = base64.b64encode(png).decode("ascii")
            figs.append(f'<figure class="faces-grid"><img alt="grid {_e(t.name)}" src="data:image/png;base64,{b64}">'
                        f"<figcaption>{_e(t.label)}{' †' if t.carried else ''}</figcaption></figure>")
    grid_html = (f'<p>Samples with their written landmarks drawn:</p><div class="faces-grids">{"".join(figs)}</div>'
                 if figs else "")
    return (f'<div class="table-scroll">{table}</div>{html_notes}{_tradeoff(res.get("morph_tradeoff"))}'
            f"{grid_html}")
