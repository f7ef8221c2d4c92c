"""The HTML report (``fakevision report DIR``): one self-contained file that works offline — every picture inlined
as a data URI, plots as inline SVG (``report.plots``), the page's small script and style inlined too, nothing
fetched at view time.

What it shows, in page order: a section per source with a paginated grid of samples whose annotation layers
(masks, boxes, keypoints with the schema's skeleton, depth, normals; ``report.layers``) the toolbar switches on and
off, each sample zoomable at full resolution on click with keypoint names on hover and its provenance beside it;
fake samples beside a real reference set (``--reference``; eyes also get iris statistics, ``report.reference``);
counts as bar charts; histograms of every parameter each source drew (from provenance, ``report.params``);
annotation statistics and validation as a formatted table (``io.inspect``); evaluation results found in the output
or in ``--results`` folders (``report.results``; the face-source table: ``report.faces``); provenance per source.

Where the output lives does not matter: a folder or any URL ``make --out`` writes to (``s3://``, ``gs://``,
``file://``, ...) is read through ``fakevision.io.storage`` and gives the same page; the page goes to
``report.html`` in the output's own storage (atomically: a local rename, or one PUT) unless ``html_path`` / ``--html``
names another place (``write_report``).

Why it stays fast at 10,000+ samples: the grid holds a chosen number of samples spread evenly over each source
(``num_samples``; 0 = all), pictures are small thumbnails that load lazily page by page (24 per page), the zoom's
full-resolution picture is decoded only when opened, statistics decode at most ``MAX_CHECKED`` samples, and counts
and parameter histograms come from ``manifest.jsonl`` without decoding any image.
"""

from __future__ import annotations

import json
import posixpath
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from fakevision.core.errors import InputError, OutputError
from fakevision.core.sample import Sample
from fakevision.io.atomic import atomic_write_text
from fakevision.io.storage import Storage, as_storage, is_url
from fakevision.report.draw import draw_sample

__all__ = ["draw_sample", "write_report"]

DEFAULT_SAMPLES = 96
PAGE_SIZE = 24
MAX_CHECKED = 2000  # samples decoded for statistics and validation
MAX_HISTOGRAMS = 48  # parameter histograms per source


def caption(s: Sample) -> str:
    """One short line about a sample's annotations for its card.

    >>> from fakevision.core.sample import Annotations
    >>> caption(Sample(np.zeros((4, 6, 3), np.uint8), Annotations(label="cat")))
    '6×4 · label cat'
    """
    a = s.annotations
    bits = [f"{s.width}×{s.height}"]
    if a.num_instances:
        bits.append(f"{a.num_instances} inst.")
    if a.keypoints is not None and a.visibility is not None:
        bits.append(f"{int((a.visibility == 2).sum())}/{a.visibility.size} kp visible")
    if a.label is not None:
        bits.append(f"label {a.label}")
    return " · ".join(bits)


def sample_entry(s: Sample, source: str, index: int | None) -> dict[str, Any]:
    """A sample as the page's data: its layers (``report.layers``), caption, source and provenance."""
    from fakevision.core.sample import jsonable
    from fakevision.report.layers import sample_layers

    d = sample_layers(s)
    d.update(id=s.id, source=source, index=index, caption=caption(s), label=s.annotations.label,
             provenance=s.provenance.to_dict(),
             attributes=jsonable(dict(s.annotations.attributes)))
    d["px"] = max(s.width, s.height) < 200  # upscaled on the page: show pixels, not blur
    return d


def _pick_per_source(ids: list[str], manifest_rows: list[dict[str, Any]],
                     num_samples: int) -> list[tuple[str, int, list[int]]]:
    """Which samples to draw, grouped by the source that made them: (source, samples it made, indices), sources
    in order of first appearance. Each source gets its share of ``num_samples`` (0 = every sample) but at least
    ``min(8, count)``, so a small source (e.g. 64 GAN faces after 256 rendered scenes) is not lost at the end of one
    long grid. Sources come from the manifest's provenance, else from the id's prefix (``render-000003`` ->
    ``render``).

    >>> ids = [f"render-{i:06d}" for i in range(256)] + [f"gan_faces-{i:06d}" for i in range(64)]
    >>> [(s, c, len(ix)) for s, c, ix in _pick_per_source(ids, [], 24)]
    [('render', 256, 19), ('gan_faces', 64, 8)]
    >>> [(s, ix) for s, c, ix in _pick_per_source(["a-1", "a-2", "b-1"], [], 24)]
    [('a', [0, 1]), ('b', [2])]
    """
    src_of = {r["provenance"].get("sample_id"): r["provenance"].get("source", "?") for r in manifest_rows
              if isinstance(r.get("provenance"), dict)}
    members: dict[str, list[int]] = {}
    for i, sid in enumerate(ids):
        members.setdefault(src_of.get(sid) or sid.rsplit("-", 1)[0], []).append(i)
    n = max(len(ids), 1)
    out = []
    for src, idx in members.items():
        if num_samples <= 0:
            out.append((src, len(idx), list(idx)))
            continue
        k = min(len(idx), max(min(8, len(idx)), round(num_samples * len(idx) / n)))
        at = np.linspace(0, len(idx) - 1, k).round().astype(int) if k else np.array([], int)
        out.append((src, len(idx), [idx[j] for j in sorted(set(at.tolist()))]))
    return out


def _asset(name: str) -> str:
    return resources.files("fakevision.report").joinpath("templates", name).read_text(encoding="utf-8")


def validation_note(info: dict[str, Any]) -> str:
    """What the validation checked on this output, in words (only the checks that had something to check).

    >>> validation_note({"formats": ["coco", "manifest"], "with_masks": 0, "boxes": {"count": 3}, "keypoints": {}})
    'the COCO file loads in pycocotools, every file the manifest lists is there'
    >>> validation_note({"formats": ["webdataset"], "with_masks": 2, "boxes": {"count": 3}, "keypoints": {"v2": 5}})
    'boxes match their masks, visible keypoints lie inside the image and on their instance'
    """
    checks = []
    if (info.get("boxes") or {}).get("count") and info.get("with_masks"):
        checks.append("boxes match their masks")
    if (info.get("keypoints") or {}).get("v2"):
        checks.append("visible keypoints lie inside the image" + (" and on their instance" if info.get("with_masks")
                                                                  else ""))
    formats = info.get("formats") or []
    if "coco" in formats:
        checks.append("the COCO file loads in pycocotools")
    if "manifest" in formats:
        checks.append("every file the manifest lists is there")
    return ", ".join(checks)


def _json_for_script(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` can end it early)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


def _counts_section(info: dict[str, Any]) -> list[dict[str, str]]:
    from fakevision.report.plots import bar_chart

    charts = []
    per_class = {k: v for k, v in (info.get("per_class") or {}).items() if k != "(none)"}
    unlabelled = (info.get("per_class") or {}).get("(none)", 0)
    if per_class:
        note = f" ({unlabelled:,} samples without a class label)" if unlabelled else ""
        charts.append({"svg": bar_chart(per_class, "count-class", "samples per class label" + note, "samples"),
                       "title": "samples per class"})
    if info.get("per_category"):
        charts.append({"svg": bar_chart(info["per_category"], "count-cat", "instances per category", "instances"),
                       "title": "instances per category"})
    if len(info.get("per_source") or {}) > 1:
        charts.append({"svg": bar_chart(info["per_source"], "count-src", "samples per source", "samples"),
                       "title": "samples per source"})
    return charts


def _param_sections(provs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from fakevision.report.params import gather
    from fakevision.report.plots import histogram

    out = []
    for k, (src, series) in enumerate(gather(provs).items()):
        shown = series[:MAX_HISTOGRAMS]
        out.append({"source": src, "n": sum(1 for p in provs if str(p.get("source")) == src),
                    "svgs": [histogram(s, f"h{k}-{j}") for j, s in enumerate(shown)],
                    "more": [s.key for s in series[MAX_HISTOGRAMS:]]})
    return out


def _provenance_rows(provs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "seeds": set(), "hashes": set(),
                                                        "versions": set(), "example": None})
    for p in provs:
        e = by[str(p.get("source", "?"))]
        e["count"] += 1
        e["seeds"].add(str(p.get("seed")))
        e["hashes"].add(str(p.get("recipe_hash") or "–")[:12])
        e["versions"].add(str(p.get("version", "?")))
        if e["example"] is None:
            e["example"] = json.dumps(p, indent=2, sort_keys=True, ensure_ascii=False)
    return [{"source": k, "count": v["count"], "seeds": ", ".join(sorted(v["seeds"])),
             "hashes": ", ".join(sorted(v["hashes"])), "versions": ", ".join(sorted(v["versions"])),
             "example": v["example"]} for k, v in sorted(by.items())]


def _open_output(out_dir: str | Path | Storage) -> Storage:
    """The output's storage, checked to be there: a local folder, or any URL ``make --out`` takes (``s3://``,
    ``gs://``, ``memory://``, ``file://``). A bad URL, an unreachable store or a missing output is an
    ``InputError`` naming it."""
    try:
        root = as_storage(out_dir)
    except OutputError as e:  # an unknown protocol, a missing fsspec package: the message names the URL
        raise InputError(str(e)) from None
    local = root.local_path
    if local is not None:
        if not local.is_dir():
            raise InputError("output folder not found", local)
        return root
    try:
        there = root.exists()
    except OSError as e:  # no credentials, no such bucket, endpoint down: one line, naming the URL
        raise InputError(str(e).removeprefix(root.url() + ": "), root.url()) from None
    if not there:
        raise InputError("output not found (nothing stored under this URL)", root.url())
    if root.is_file(""):
        raise InputError("is a file; give the output's folder (the URL make --out was given)", root.url())
    return root


def _name(root: Storage) -> str:
    local = root.local_path
    return local.name if local is not None else posixpath.basename(root.url().rstrip("/"))


def _manifest_rows(root: Storage) -> list[dict[str, Any]]:
    from fakevision.io.dataset import read_manifest

    return read_manifest(root, "manifest.jsonl") if root.is_file("manifest.jsonl") else []


def write_report(out_dir: str | Path | Storage, html_path: str | Path | None = None,
                 num_samples: int = DEFAULT_SAMPLES, extra_sections: list[str] | None = None,
                 reference: str | Path | None = None, reference_samples: int = 6,
                 results: list[str | Path] | None = None, page_size: int = PAGE_SIZE) -> Path | str:
    """Write the report of output ``out_dir`` and return where it went: a ``Path`` when on this machine, the URL
    when in object storage.

    ``out_dir``: an output folder or any storage URL ``make --out`` writes to (``s3://bucket/run``, ``gs://...``,
    ``memory://...``, ``file:///...``), in any layout ``make`` writes (COCO, WebDataset shards, image folder); a
    remote output is read through ``fakevision.io.storage`` like a folder, so its report shows the same numbers.
    ``html_path``: where the report goes — a local path, or a URL. Default: ``report.html`` inside the output,
    local or remote (in object storage one atomic PUT: the old report stays until the new one is whole).
    ``num_samples``: samples in the grid, shared out over the sources (0 = all). ``reference``: a real data set
    (any format the readers open) shown beside the output's samples; an output of rendered eyes also gets iris
    statistics of both sets. ``results``: folders (or URLs) with evaluation results (the output is always
    searched). A missing output or results folder, a bad URL or an unreadable reference is an ``InputError``
    naming it, raised before any other work.

    >>> import tempfile
    >>> from fakevision.core import Annotations, Provenance
    >>> from fakevision.io.writers import ShardInfo, make_writer
    >>> url, w = "memory://report-doc/run", make_writer("webdataset")   # e.g. what make --out s3://... wrote
    >>> w.write_shard(url, ShardInfo(0, 1, 0), [Sample(np.zeros((8, 8, 3), np.uint8), Annotations(label="cat"),
    ...                                               Provenance("demo", "demo-0"))]); w.finalize(url, 1)
    >>> write_report(url)
    'memory://report-doc/run/report.html'
    >>> str(write_report(url, html_path=Path(tempfile.mkdtemp()) / "r.html")).endswith("r.html")
    True
    """
    from fakevision.report.results import find_results, results_sections

    root = _open_output(out_dir)
    result_roots = [_open_results(r) for r in results or []]
    if reference is not None:
        from fakevision.report.reference import open_reference

        open_reference(reference)  # fail fast, naming the path, before reading the output
    evaluation = results_sections(find_results(root, *result_roots))
    from fakevision.io.dataset import FakevisionDataset

    try:
        ds = FakevisionDataset(root.url())
        n = len(ds)
    except InputError:
        if not evaluation and not extra_sections:
            raise
        return _render(root, html_path, {"title": _name(root), "samples": [], "groups": [],
                                         "evaluation": evaluation, "extra_sections": extra_sections or [],
                                         "num_samples": 0})
    if n == 0:
        raise InputError("output holds no samples", root.url())
    from fakevision.io.inspect import describe, inspect_output, load_samples, reads_at_once

    rows = _manifest_rows(root)
    groups_idx = _pick_per_source(ds.ids(), rows, num_samples)
    shown = [(src, i) for src, _, idx in groups_idx for i in idx]
    samples: list[dict[str, Any]] = []
    for (src, _), (i, s) in zip(shown, load_samples(ds, [i for _, i in shown], reads_at_once(root)), strict=True):
        if isinstance(s, InputError):
            raise s
        samples.append(sample_entry(s, src, i))
    groups, at = [], 0
    for src, count, idx in groups_idx:
        groups.append({"source": src, "count": count, "members": list(range(at, at + len(idx)))})
        at += len(idx)

    info = inspect_output(root.url(), max_samples=MAX_CHECKED)
    provs = [r["provenance"] for r in rows if isinstance(r.get("provenance"), dict)]
    if not provs:  # no manifest: what the shown samples say
        provs = [s["provenance"] for s in samples]
    ref = None
    if reference is not None:
        from fakevision.report.reference import reference_data

        ref = reference_data(_name(root), reference, reference_samples, ds, samples)
    recipe: dict[str, Any] = {}
    if root.is_file("recipe.json"):
        recipe = json.loads(root.read_bytes("recipe.json").decode("utf-8"))
    context = {
        "title": recipe.get("name", _name(root)), "folder": _name(root), "num_samples": n, "samples": samples,
        "groups": groups, "recipe": recipe, "info": info, "stats": describe(info),
        "problems": info.get("problems", []), "validation": validation_note(info), "counts": _counts_section(info), "params": _param_sections(provs),
        "provenance": _provenance_rows(provs), "reference": ref, "evaluation": evaluation,
        "extra_sections": extra_sections or [], "page_size": page_size,
        "recipe_hash": next((str(p.get("recipe_hash")) for p in provs if p.get("recipe_hash")), ""),
        "versions": sorted({str(p.get("version", "?")) for p in provs}),
    }
    return _render(root, html_path, context)


def _open_results(where: str | Path) -> Storage:
    try:
        store = as_storage(where)
    except OutputError as e:
        raise InputError(str(e)) from None
    local = store.local_path
    try:
        there = local.is_dir() if local is not None else store.exists()
    except OSError as e:
        raise InputError(str(e)) from None
    if not there:
        raise InputError("results folder not found", where)
    return store


def _write_html(root: Storage, html_path: str | Path | None, text: str) -> Path | str:
    """Write the page where the rule says (``write_report``): ``html_path`` (a local path or a URL), else
    ``report.html`` in the output's own storage; atomically either way."""
    if html_path is None:
        store, rel = root, "report.html"
    elif is_url(html_path):
        parent, rel = str(html_path).rstrip("/").rsplit("/", 1)
        try:
            store = as_storage(parent)
        except OutputError as e:
            raise InputError(str(e)) from None
    else:
        target = Path(str(html_path).removeprefix("file://"))
        atomic_write_text(target, text)
        return target
    local = store.local_path
    if local is not None:
        atomic_write_text(local / rel, text)
        return local / rel
    try:
        store.write_text(rel, text)
    except OutputError as e:
        raise OutputError(f"{e}; give --html PATH (html_path) to write the report elsewhere") from None
    return store.url(rel)


def _render(root: Storage, html_path: str | Path | None, context: dict[str, Any]) -> Path | str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("fakevision.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    samples = context.get("samples", [])
    present = {k for s in samples for k in ("masks", "depth", "normals") if s.get(k)}
    present |= {"boxes" for s in samples if s.get("vectors", {}).get("boxes")}
    present |= {"keypoints" for s in samples if s.get("vectors", {}).get("keypoints")}
    # The cards' <img> tags hold the thumbnail and the layers; the script's data holds the rest, and the full picture
    # only when it differs from the thumbnail (small samples: the same picture, once in the file).
    page_data = {"samples": [{k: (None if k == "full" and v == s["thumb"] else v) for k, v in s.items()
                              if k not in ("thumb", "masks", "depth", "normals")} for s in samples],
                 "page_size": context.get("page_size", PAGE_SIZE)}
    markup = jinja2.utils.markupsafe.Markup
    context = {**context, "data_json": markup(_json_for_script(page_data)), "css": markup(_asset("report.css")),
               "js": markup(_asset("report.js")),
               "extra_sections": [markup(s) for s in context.get("extra_sections", [])],
               "evaluation": [{**e, "html": markup(e["html"])} for e in context.get("evaluation", [])],
               "counts": [{**c, "svg": markup(c["svg"])} for c in context.get("counts", [])],
               "params": [{**p, "svgs": [markup(x) for x in p["svgs"]]} for p in context.get("params", [])],
               "ref_table": markup(context["reference"]["table_html"]) if context.get("reference") else None,
               "present": present}
    return _write_html(root, html_path, env.get_template("report.html").render(**context))
