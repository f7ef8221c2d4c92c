"""The HTML report: one self-contained file (images inlined as base64 PNG, no scripts, no network) that shows a
grid of samples with their annotations drawn (depth and normals beside them), counts, validation and a provenance
summary; with ``reference``, also rendered eyes beside a real iris set with their statistics (``report.reference``)."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import jinja2
import numpy as np

from fakevision.core.errors import InputError
from fakevision.io.atomic import atomic_write_text
from fakevision.io.images import encode_image
from fakevision.report.draw import draw_sample

__all__ = ["draw_sample", "write_report"]


def _b64png(img: np.ndarray) -> str:
    return base64.b64encode(encode_image(img, "png")).decode("ascii")


def _depth_picture(depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    valid = depth > 0
    pic = np.zeros(depth.shape, np.uint8)
    if valid.any():
        lo, hi = float(depth[valid].min()), float(depth[valid].max())
        pic[valid] = (255 - 215 * (depth[valid] - lo) / max(hi - lo, 1e-9)).astype(np.uint8)
    pic = cv2.resize(pic, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return cv2.applyColorMap(pic, cv2.COLORMAP_VIRIDIS)[:, :, ::-1]


def _normals_picture(normals: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The usual normal-map colouring, RGB = (n + 1) / 2 (camera frame: red = right, green = down, blue = away
    from the camera, so a surface facing the camera is olive, (128, 128, 0)); no surface is black, which no unit
    normal maps to, so silhouettes stay visible.

    >>> n = np.zeros((1, 2, 3), np.float32); n[0, 0] = [0, 0, -1]
    >>> _normals_picture(n, (1, 2)).tolist()
    [[[128, 128, 0], [0, 0, 0]]]
    """
    n = np.asarray(normals, dtype=np.float32)
    pic = np.clip(np.rint((n + 1.0) * 127.5), 0, 255).astype(np.uint8)
    pic[~np.any(n != 0, axis=2)] = 0
    return cv2.resize(pic, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def _manifest_rows(out: Path) -> list[dict[str, Any]]:
    p = out / "manifest.jsonl"
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_report(out_dir: str | Path, html_path: str | Path | None = None, num_samples: int = 24,
                 extra_sections: list[str] | None = None, reference: str | Path | None = None,
                 reference_samples: int = 6) -> Path:
    """Write the report of output folder ``out_dir`` (default ``out_dir/report.html``) and return its path.

    ``reference``: a real data set (e.g. the MMU iris ``.tar.xz``) to compare the output's eye samples with: a
    section with ``reference_samples`` rendered and real pictures side by side and their iris statistics
    (``fakevision.report.reference``). An unreadable reference is an ``InputError`` naming it, raised before any
    other work."""
    from fakevision.io.dataset import FakevisionDataset
    from fakevision.io.inspect import inspect_output

    out = Path(out_dir)
    if not out.is_dir():
        raise InputError("output folder not found", out)
    sections = list(extra_sections or [])
    if reference is not None:
        from fakevision.report.reference import open_reference, reference_section

        open_reference(reference)  # fail fast, naming the path, before reading the output
    if any((out / f).exists() for f in RESULT_FILES):
        from fakevision.evaluate.report import render_fragment

        sections.append(render_fragment(out))
    try:
        ds = FakevisionDataset(out)
        n = len(ds)
    except InputError:
        if not sections:
            raise
        if reference is not None:
            sections.insert(0, reference_section(out, reference, reference_samples, None))
        return _write(out, html_path, _results_only_page(out, sections))
    if n == 0:
        raise InputError("output folder holds no samples", out)
    ref_html = reference_section(out, reference, reference_samples, ds) if reference is not None else None
    rows = _manifest_rows(out)
    groups = _pick_per_source(ds.ids(), rows, num_samples)
    pick = [i for _, _, idx in groups for i in idx]
    grid = []
    provenance: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "seeds": set(), "recipe_hash": "",
                                                                 "example": ""})
    versions: set[str] = set()
    for i in pick:
        s = ds.to_sample(i)
        pic = draw_sample(s)
        a = s.annotations
        bits = [f"{a.num_instances} inst."] if a.num_instances else []
        if a.label is not None:
            bits.append(f"label {a.label}")
        if a.keypoints is not None:
            bits.append(f"{int((a.visibility == 2).sum())} visible kp")
        grid.append({"id": s.id, "png": _b64png(pic), "width": pic.shape[1], "height": pic.shape[0],
                     "depth_png": _b64png(_depth_picture(a.depth, pic.shape[:2])) if a.depth is not None else None,
                     "normals_png": (_b64png(_normals_picture(a.normals, pic.shape[:2]))
                                     if a.normals is not None else None),
                     "caption": ", ".join(bits)})
    by_index = dict(zip(pick, grid))
    sample_groups = [{"source": src, "count": count, "samples": [by_index[i] for i in idx]}
                     for src, count, idx in groups]
    prov_list = [r.get("provenance", {}) for r in rows] or [ds.to_sample(i).provenance.to_dict() for i in pick]
    for p in prov_list:
        e = provenance[p.get("source", "?")]
        e["count"] += 1
        e["seeds"].add(p.get("seed"))
        e["recipe_hash"] = p.get("recipe_hash") or ""
        if not e["example"]:
            e["example"] = json.dumps(p.get("params", {}), sort_keys=True)[:200]
        versions.add(str(p.get("version", "?")))
    info = inspect_output(out)
    count_tables = []
    for key, title in (("per_source", "source"), ("per_class", "class"), ("per_category", "category")):
        if info.get(key):
            count_tables.append((title, sorted(info[key].items())))
    skip = {"per_source", "per_class", "per_category", "problems"}
    stats = [(k, v) for k, v in sorted(info.items()) if k not in skip]
    recipe: dict[str, Any] = {}
    if (out / "recipe.json").is_file():
        recipe = json.loads((out / "recipe.json").read_text())
    env = jinja2.Environment(loader=jinja2.PackageLoader("fakevision.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]))
    html = env.get_template("report.html").render(
        title=recipe.get("name", out.name), folder=out.name, num_samples=n, grid=grid, sample_groups=sample_groups,
        recipe_name=recipe.get("name", "?"), seed=recipe.get("seed", "?"),
        recipe_hash=next((e["recipe_hash"] for e in provenance.values() if e["recipe_hash"]), ""),
        versions=sorted(versions), count_tables=count_tables, stats=stats, problems=info.get("problems", []),
        provenance=[{"source": k, "count": v["count"], "seeds": ", ".join(sorted(str(x) for x in v["seeds"])),
                     "recipe_hash": v["recipe_hash"], "example": v["example"]} for k, v in sorted(provenance.items())],
        extra_sections=[jinja2.utils.markupsafe.Markup(s) for s in sections],
        reference_section=jinja2.utils.markupsafe.Markup(ref_html) if ref_html else None,
    )
    return _write(out, html_path, html)


def _pick_per_source(ids: list[str], manifest_rows: list[dict[str, Any]],
                     num_samples: int) -> list[tuple[str, int, list[int]]]:
    """Which samples to draw, grouped by the source that made them: (source, samples it made, indices), sources
    in order of first appearance. Each source gets its share of ``num_samples`` but at least ``min(4, count)``, so
    a small source (e.g. 64 GAN faces after 256 rendered scenes) is not left at the end of one long grid or out.
    Sources come from the manifest's provenance, else from the id's prefix (``render-000003`` -> ``render``).

    >>> ids = [f"render-{i:06d}" for i in range(256)] + [f"gan_faces-{i:06d}" for i in range(64)]
    >>> [(s, c, len(ix)) for s, c, ix in _pick_per_source(ids, [], 24)]
    [('render', 256, 19), ('gan_faces', 64, 5)]
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
        k = min(len(idx), max(min(4, len(idx)), round(num_samples * len(idx) / n)))
        at = np.linspace(0, len(idx) - 1, k).round().astype(int) if k else np.array([], int)
        out.append((src, len(idx), [idx[j] for j in sorted(set(at.tolist()))]))
    return out


RESULT_FILES = ("protocol.json", "distances.json", "table.json", "task_table.json", "adversarial.json", "train.json")


def _write(out: Path, html_path: str | Path | None, html: str) -> Path:
    target = Path(html_path) if html_path else out / "report.html"
    atomic_write_text(target, html)
    return target


def _results_only_page(out: Path, sections: list[str]) -> str:
    """A report for a measurement folder (``fakevision evaluate`` / ``smart`` output) that holds no samples."""
    import html as html_lib

    title = html_lib.escape(out.name)
    body = "".join(sections)
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>fakevision results — {title}"
            "</title><style>body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px}img{max-width:100%}</style></head><body>"
            f"<h1>fakevision results — {title}</h1>{body}</body></html>")


