"""``inspect_output``: what is in an output folder (or storage URL) and what looks wrong, for ``fakevision inspect
DIR``.

Counts come from ``manifest.jsonl`` when present (cheap, and it knows every sample's source); annotation
statistics and checks come from reading every sample back through ``FakevisionDataset``, i.e. from the files a
user will train on, not from what the writer meant to write. Checks:

* ``box_mask_mismatch``: an instance's box differs from the tight box of its mask by more than 1 px;
* ``empty_mask``: an instance with a box but no mask pixel;
* ``visible_keypoint_outside_image``: a keypoint marked visible (v = 2) outside [0, W) x [0, H);
* ``visible_keypoint_off_mask``: a visible keypoint farther than 1 px from its instance's mask;
* ``missing_file``: a path the manifest lists that is not on disk (or a key missing from its tar);
* ``unreadable``: a sample whose files do not decode;
* ``coco_invalid``: ``coco/annotations.json`` does not load with ``pycocotools.coco.COCO`` (the reference loader).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fakevision.core.errors import InputError
from fakevision.core.sample import Sample, boxes_from_masks
from fakevision.io.dataset import FakevisionDataset, output_layout, read_manifest
from fakevision.io.storage import Storage, as_storage
from fakevision.io.writers.coco import ANNOTATIONS
from fakevision.io.writers.imagefolder import IMAGES_DIR
from fakevision.io.writers.manifest import MANIFEST
from fakevision.io.writers.wds import WDS_DIR

BOX_TOLERANCE_PX = 1.0


#: Samples read at once from object storage (each costs a round trip per file: image, masks, depth, normals).
REMOTE_READS = 16


def load_samples(ds: FakevisionDataset, indices: Sequence[int],
                 threads: int = 1) -> Iterator[tuple[int, Sample | InputError]]:
    """Samples ``indices`` of ``ds`` in order, each as ``(index, Sample)`` or ``(index, the InputError reading it
    raised)``, with up to ``threads`` read at once.

    Why: an output in a bucket costs a request per file, and a report decodes up to thousands of samples — one
    request at a time that is minutes of waiting on latency, ``REMOTE_READS`` in flight it is seconds. Local
    folders read one at a time (``threads=1``: no pool). At most ``4 * threads`` samples wait decoded at once.

    >>> import tempfile
    >>> from fakevision.core import Annotations, Provenance
    >>> from fakevision.io.writers import ShardInfo, make_writer
    >>> out, w = tempfile.mkdtemp(), make_writer("webdataset")
    >>> w.write_shard(out, ShardInfo(0, 1, 0), [Sample(np.zeros((4, 4, 3), np.uint8), Annotations(label=str(i)),
    ...               Provenance("demo", f"demo-{i}")) for i in range(3)]); w.finalize(out, 1)
    >>> [(i, s.annotations.label) for i, s in load_samples(FakevisionDataset(out), [2, 0], threads=4)]
    [(2, '2'), (0, '0')]
    """

    def one(i: int) -> tuple[int, Sample | InputError]:
        try:
            return i, ds.to_sample(i)
        except InputError as e:
            return i, e

    if threads <= 1 or len(indices) <= 1:
        yield from (one(i) for i in indices)
        return
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(threads, thread_name_prefix="fv-read") as pool:
        window: deque[Future[tuple[int, Sample | InputError]]] = deque()
        for i in indices:
            window.append(pool.submit(one, i))
            if len(window) >= 4 * threads:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def reads_at_once(root: Storage) -> int:
    """How many samples to read at once from ``root``: ``REMOTE_READS`` in object storage, 1 on this machine."""
    return 1 if root.local_path is not None else REMOTE_READS


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    v = np.asarray(values, dtype=np.float64)
    return {"min": float(v.min()), "median": float(np.median(v)), "mean": float(v.mean()), "max": float(v.max())}


def check_sample(s: Sample) -> list[tuple[str, str]]:
    """Problems of one sample as (kind, message) pairs; see the module docstring for the kinds.

    >>> from fakevision.core import Annotations, Provenance
    >>> m = np.zeros((1, 8, 8), bool); m[0, 2:4, 2:4] = True
    >>> s = Sample(np.zeros((8, 8, 3), np.uint8), Annotations(categories=["a"], boxes=[[2, 2, 7, 4]], masks=m),
    ...            Provenance("t", "t-0"))
    >>> check_sample(s)
    [('box_mask_mismatch', 't-0: instance 0 (a) box [2.0, 2.0, 7.0, 4.0] vs mask box [2.0, 2.0, 4.0, 4.0]')]
    """
    a = s.annotations
    out: list[tuple[str, str]] = []
    dilated = None
    if a.masks is not None:
        tight = boxes_from_masks(a.masks)
        kernel = np.ones((3, 3), np.uint8)
        dilated = [cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in a.masks]
        for j in range(a.num_instances):
            if not a.masks[j].any():
                out.append(("empty_mask", f"{s.id}: instance {j} ({a.categories[j]}) has an empty mask"))
            elif np.abs(tight[j] - a.boxes[j]).max() > BOX_TOLERANCE_PX:
                out.append(("box_mask_mismatch", f"{s.id}: instance {j} ({a.categories[j]}) box "
                            f"{a.boxes[j].tolist()} vs mask box {tight[j].tolist()}"))
    if a.keypoints is not None and a.visibility is not None:
        for j, k in zip(*np.nonzero(a.visibility == 2), strict=True):
            x, y = a.keypoints[j, k]
            if not (0 <= x < s.width and 0 <= y < s.height):
                out.append(("visible_keypoint_outside_image",
                            f"{s.id}: instance {j} keypoint {k} at ({x:.2f}, {y:.2f}) is visible but outside "
                            f"the {s.width}x{s.height} image"))
            elif dilated is not None and a.masks is not None and a.masks[j].any() and not dilated[j][int(y), int(x)]:
                out.append(("visible_keypoint_off_mask",
                            f"{s.id}: instance {j} keypoint {k} at ({x:.2f}, {y:.2f}) is visible but off its mask"))
    return out


def _missing_files(root: Storage, manifest: list[dict[str, Any]], ds_keys: dict[str, set[str]]) -> list[str]:
    present = root.all_files()  # one listing, not a request per file on object storage
    out = []
    for rec in manifest:
        for fmt, files in rec.get("files", {}).items():
            if "tar" in files:
                if files["tar"] not in present:
                    out.append(f"{rec['id']}: {files['tar']} missing")
                elif fmt in ds_keys and files["key"] not in ds_keys[fmt]:
                    out.append(f"{rec['id']}: key {files['key']} missing from {files['tar']}")
                continue
            out += [f"{rec['id']}: {p} missing" for p in files.values() if p not in present]
    return out


def _coco_problem(where: Storage | str | Path) -> str | None:
    """Why pycocotools cannot load the COCO file (``where``: an output's storage, or the JSON's path), or None."""
    from pycocotools.coco import COCO

    if isinstance(where, Storage):
        root, rel = where, ANNOTATIONS
    else:
        root, rel = as_storage(Path(where).parent), Path(where).name
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints progress lines
            coco = COCO()
            coco.dataset = json.loads(root.read_bytes(rel))
            coco.createIndex()
            coco.getAnnIds()
    except Exception as e:
        return f"{root.url(rel)}: pycocotools cannot load it ({type(e).__name__}: {e})"
    return None


def formats_present(out_dir: str | Path | Storage) -> list[str]:
    """Which outputs ``out_dir`` (a folder or a storage URL) holds, among coco, webdataset, imagefolder and
    manifest."""
    root = as_storage(out_dir)
    found = {
        "coco": root.is_file(ANNOTATIONS),
        "webdataset": bool(root.glob(f"{WDS_DIR}/shard-*.tar")),
        "imagefolder": bool(root.glob(f"{IMAGES_DIR}/*/*")),
        "manifest": root.is_file(MANIFEST),
    }
    return [k for k, v in found.items() if v]


def fmt_number(v: Any) -> str:
    """A number as tables print it: integers with thousands separators, other numbers with 3 significant digits
    (no 15-digit floats), a dash for None.

    >>> [fmt_number(v) for v in (1187, 36.42085647583008, 0.0123456, 1234.5, 7.0, None)]
    ['1,187', '36.4', '0.0123', '1,234', '7', '–']
    """
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        x = float(v)
        if not np.isfinite(x):
            return str(x)
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"
    return str(v)


def describe(info: dict[str, Any]) -> list[tuple[str, str]]:
    """The inspection as (what, value) rows of plain text for a table: formats, sizes, box statistics, how many
    samples carry each dense annotation, keypoint visibility, problems by kind. Used by ``fakevision inspect`` and
    the report, so both say the same thing the same way.

    >>> info = {"formats": ["coco", "manifest"], "format": "coco", "num_samples": 3, "keypoints": {"v2": 10},
    ...         "boxes": {"count": 2, "width": {"min": 4.0, "median": 36.42085, "mean": 20.2, "max": 36.4},
    ...                   "height": None, "area": None},
    ...         "with_masks": 3, "with_depth": 0, "with_normals": 0, "problem_counts": {}}
    >>> for row in describe(info): print(row)
    ('formats', 'coco, manifest (read: coco)')
    ('samples', '3')
    ('boxes', '2')
    ('box width (px)', 'min 4 · median 36.4 · mean 20.2 · max 36.4')
    ('samples with masks', '3 of 3')
    ('samples with depth', '0 of 3')
    ('samples with normals', '0 of 3')
    ('keypoints', '10 visible (v=2)')
    ('problems', 'none')
    """
    n = info.get("num_samples", 0)
    rows = [("formats", f"{', '.join(info.get('formats') or []) or '–'} (read: {info.get('format', '?')})"),
            ("samples", fmt_number(n))]
    boxes = info.get("boxes") or {}
    rows.append(("boxes", fmt_number(boxes.get("count", 0))))
    for key, unit in (("width", "px"), ("height", "px"), ("area", "px²")):
        st = boxes.get(key)
        if st:
            rows.append((f"box {key} ({unit})", " · ".join(f"{k} {fmt_number(st[k])}"
                                                           for k in ("min", "median", "mean", "max"))))
    checked = info.get("checked", n)
    if checked < n:
        rows.append(("checked", f"{fmt_number(checked)} of {fmt_number(n)} samples decoded (evenly spaced) for the "
                                "statistics and checks"))
    for key in ("masks", "depth", "normals"):
        if f"with_{key}" in info:
            rows.append((f"samples with {key}", f"{fmt_number(info[f'with_{key}'])} of {fmt_number(checked)}"))
    vis = info.get("keypoints") or {}
    if vis:
        names = {"v2": "visible (v=2)", "v1": "labelled but hidden (v=1)", "v0": "not labelled (v=0)"}
        rows.append(("keypoints", ", ".join(f"{fmt_number(c)} {names.get(k, k)}" for k, c in sorted(
            vis.items(), reverse=True))))
    counts = info.get("problem_counts") or {}
    rows.append(("problems", ", ".join(f"{fmt_number(c)} {k.replace('_', ' ')}" for k, c in sorted(counts.items()))
                 or "none"))
    return rows


def inspect_output(out_dir: str | Path, max_problems: int = 100, max_samples: int | None = None) -> dict[str, Any]:
    """Summarise and validate an output folder; returns plain JSON-ready data.

    ``max_samples``: decode at most this many samples (evenly spaced) for the statistics and checks, so a report on
    100k samples takes seconds; counts per class and source still cover every sample when ``manifest.jsonl`` is
    there. ``checked`` says how many samples were decoded.

    Keys: ``formats`` (present), ``format`` (the one read), ``num_samples``, ``per_class``, ``per_source``,
    ``per_category`` (instances), ``keypoints`` (visibility counts), ``boxes`` (width/height/area stats),
    ``with_masks``, ``with_depth``, ``with_normals`` (samples carrying each), ``problem_counts`` (per kind) and
    ``problems`` (the first ``max_problems`` messages).

    >>> import tempfile
    >>> from fakevision.core import Annotations, Provenance
    >>> from fakevision.io.writers import ShardInfo, make_writer
    >>> out = Path(tempfile.mkdtemp())
    >>> s = Sample(np.zeros((8, 8, 3), np.uint8), Annotations(label="cat", categories=["cube"],
    ...            boxes=[[1, 2, 5, 6]]), Provenance("demo", "demo-0"))
    >>> w = make_writer("coco"); w.write_shard(out, ShardInfo(0, 1, 0), [s]); w.finalize(out, 1)
    >>> r = inspect_output(out)
    >>> r["num_samples"], r["per_class"], r["per_category"], r["problem_counts"]
    (1, {'cat': 1}, {'cube': 1}, {})
    """
    root = as_storage(out_dir)
    ds = FakevisionDataset(root.url(), format=output_layout(root.url()))
    manifest = read_manifest(root, MANIFEST) if root.is_file(MANIFEST) else None
    per_class: Counter[str] = Counter()
    per_source: Counter[str] = Counter()
    per_category: Counter[str] = Counter()
    vis: Counter[str] = Counter()
    widths: list[float] = []
    heights: list[float] = []
    with_masks = with_depth = with_normals = 0
    problems: list[tuple[str, str]] = []
    n = len(ds)
    picks = (range(n) if max_samples is None or max_samples >= n
             else sorted(set(np.linspace(0, n - 1, max(1, max_samples)).round().astype(int).tolist())))
    for _, s in load_samples(ds, picks, reads_at_once(root)):
        if isinstance(s, InputError):
            problems.append(("unreadable", str(s)))
            continue
        a = s.annotations
        per_class[a.label if a.label is not None else "(none)"] += 1
        per_source[s.provenance.source] += 1
        per_category.update(a.categories)
        widths += (a.boxes[:, 2] - a.boxes[:, 0]).tolist()
        heights += (a.boxes[:, 3] - a.boxes[:, 1]).tolist()
        with_masks += a.masks is not None
        with_depth += a.depth is not None
        with_normals += a.normals is not None
        if a.visibility is not None:
            values, counts = np.unique(a.visibility, return_counts=True)
            vis.update({f"v{int(v)}": int(c) for v, c in zip(values, counts, strict=True)})
        problems += check_sample(s)
    if root.is_file(ANNOTATIONS):
        bad = _coco_problem(root)
        if bad is not None:
            problems.append(("coco_invalid", bad))
    if manifest is not None:
        per_source = Counter(rec.get("source", "unknown") for rec in manifest)
        per_class = Counter(rec.get("label") or "(none)" for rec in manifest)
        if len(picks) < n:  # instances of every sample, from the manifest's counts
            per_category = Counter()
            for rec in manifest:
                per_category.update((rec.get("counts") or {}).get("per_category") or {})
        keys = {ds.format: set(ds.ids())}
        problems += [("missing_file", m) for m in _missing_files(root, manifest, keys)]
        if len(manifest) != len(ds):
            problems.append(("missing_file", f"manifest lists {len(manifest)} samples, {ds.format} has {len(ds)}"))
    return {
        "path": root.local_path.as_posix() if root.local_path is not None else root.url(),
        "formats": formats_present(root),
        "format": ds.format,
        "num_samples": len(manifest) if manifest is not None else len(ds),
        "per_class": dict(sorted(per_class.items())),
        "per_source": dict(sorted(per_source.items())),
        "per_category": dict(sorted(per_category.items())),
        "keypoints": dict(sorted(vis.items())),
        "boxes": {
            "count": len(widths),
            "width": _stats(widths),
            "height": _stats(heights),
            "area": _stats([w * h for w, h in zip(widths, heights, strict=True)]),
        },
        "checked": len(picks),
        "with_masks": with_masks,
        "with_depth": with_depth,
        "with_normals": with_normals,
        "problem_counts": dict(sorted(Counter(k for k, _ in problems).items())),
        "problems": [m for _, m in problems[:max_problems]],
    }
