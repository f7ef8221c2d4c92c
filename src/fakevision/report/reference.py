"""The report's "fake beside real" section (``fakevision report OUT --reference PATH``): samples of the output
beside samples of a real data set, drawn as the same cards with the same layers; when the output holds rendered
eyes, the eyes are compared with the real set's eyes and a table gives the iris statistics of both sets
(``fakevision.evaluate.iris_stats``: size, grey levels, contrast, texture) with their differences.

Why in the report: whether fake data looks like real data is a question people answer by eye *and* by number, and
answering it in the same page as the sample grid keeps the comparison next to the data it is about.

What counts as an eye sample: one with an instance of category ``iris`` that has a mask (what the ``render_eye``
source writes; the statistics need the mask). The reference is any data set the readers open
(``fakevision.io.readers.open_reader``, format detected: a folder of images, class folders, COCO, CSV, .pts, ...);
image/mask pairs (e.g. the MMU tar.xz) are read with their masks named ``iris``. Statistics use at most
``MAX_STATS`` samples of each set, evenly spaced, so a large output costs seconds, not minutes; the comparison
shows ``num_samples`` of each, evenly spaced too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from fakevision.core.errors import InputError
from fakevision.core.sample import Sample
from fakevision.evaluate.iris_stats import difference_rows, sample_iris_statistics, summarise
from fakevision.io.storage import is_url

IRIS = "iris"
MAX_STATS = 500


def evenly_spaced(n: int, k: int) -> list[int]:
    """At most ``k`` distinct indices in ``range(n)``, spread evenly, first and last included.

    >>> evenly_spaced(10, 3), evenly_spaced(2, 5), evenly_spaced(0, 3)
    ([0, 4, 9], [0, 1], [])
    """
    if n <= 0 or k <= 0:
        return []
    return sorted(set(np.linspace(0, n - 1, min(k, n)).round().astype(int).tolist()))


def open_reference(path: str | Path) -> Any:
    """The reader of a real data set at ``path``; anything unreadable is an ``InputError`` naming ``path``."""
    from fakevision.io.readers import detect_format, open_reader

    p = str(path) if is_url(path) else Path(path)  # a bucket: read in place (COCO or an output)
    try:
        fmt = detect_format(p)
        return open_reader(fmt, p, **({"category": IRIS} if fmt == "mask_pairs" else {}))
    except InputError as e:
        raise InputError(f"reference data set: {e.problem}", e.path or p, fix=e.fix) from None
    except (OSError, ValueError) as e:
        raise InputError(f"reference data set cannot be read ({e})", p) from None


class _EyeSet:
    """Iris statistics of one set (the output or the reference), read lazily by index."""

    def __init__(self, name: str, count: int, load: Callable[[int], Sample], may_have_iris: bool = True) -> None:
        self.name, self.count, self.load = name, count, load
        self.indices: list[int] = []  # samples with an iris mask, among those examined
        stats: list[dict[str, float] | None] = []
        if may_have_iris:
            for i in evenly_spaced(count, MAX_STATS):
                st = sample_iris_statistics(load(i), IRIS)
                stats.append(st)
                if st is not None:
                    self.indices.append(i)
        self.examined = len(stats)
        self.summary = summarise(stats) if self.indices else None

    def pick(self, k: int) -> list[int]:
        """``k`` of the samples with an iris, evenly spaced."""
        return [self.indices[j] for j in evenly_spaced(len(self.indices), k)]


def _fmt(v: float | None, digits: int = 3) -> str:
    """Numbers as the table prints them (significant digits; a dash for undefined).

    >>> _fmt(112.345), _fmt(0.00123456, 2), _fmt(None)
    ('112', '0.0012', '–')
    """
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


def mean_std(s: dict[str, float] | None) -> str:
    """``mean ± std`` of one ``summarise`` entry, as printed in the report."""
    return "–" if s is None else f"{_fmt(s['mean'])} ± {_fmt(s['std'], 2)}"


def reference_data(out_dir: str | Path, reference: str | Path, num_samples: int, dataset: Any | None,
                   entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparison with the real set at ``reference``: its samples are appended to ``entries`` (the page's sample
    list, as ``report.sample_entry`` makes them); returns ``pairs`` of entry indices (fake, real; either may be
    None), ``eyes`` (whether rendered eyes were compared) and ``table_html`` (the notes and the iris statistics).
    ``dataset`` is the output's opened ``FakevisionDataset`` (None when it holds no readable samples)."""
    from fakevision.report import sample_entry

    ref_reader = open_reference(reference)  # first: a bad path fails before any work is done
    ref_name = str(reference).rstrip("/").rsplit("/", 1)[-1]
    count = len(dataset) if dataset is not None else 0
    has_iris = dataset is not None and IRIS in dataset.categories
    ours = _EyeSet(Path(out_dir).name, count, dataset.to_sample if dataset is not None else _no_sample, has_iris)
    eyes = bool(ours.indices)
    real = _EyeSet(ref_name, len(ref_reader), lambda i: ref_reader[i], eyes or has_iris)
    fake_idx = ours.pick(num_samples) if eyes else evenly_spaced(count, num_samples)
    real_idx = real.pick(num_samples) if eyes and real.indices else evenly_spaced(len(ref_reader), num_samples)
    fakes = [dataset.to_sample(i) for i in fake_idx] if dataset is not None else []
    # an augmented (or otherwise derived) sample goes beside the real sample it was made from, when its provenance
    # names a parent in the reference set: the comparison a user wants ("what did augmentation do to this face?")
    ref_index = {str(k): j for j, k in enumerate(getattr(ref_reader, "ids", []) or [])}
    parents = [next((ref_index[str(p)] for p in (s.provenance.parents if s.provenance else []) if str(p) in ref_index),
                    None) for s in fakes]
    by_parent = not eyes and bool(fakes) and all(p is not None for p in parents)
    if by_parent:
        real_idx = [int(p) for p in parents if p is not None]
    fake_e, real_e = [], []
    for i, s in zip(fake_idx, fakes, strict=True):
        entries.append(sample_entry(s, "fake", i))
        fake_e.append(len(entries) - 1)
    for i in real_idx:
        entries.append(sample_entry(ref_reader[i], f"real: {ref_name}", i))
        real_e.append(len(entries) - 1)
    pairs = [(fake_e[i] if i < len(fake_e) else None, real_e[i] if i < len(real_e) else None)
             for i in range(max(len(fake_e), len(real_e)))]
    rows = []
    if ours.summary is not None or real.summary is not None:
        for r in difference_rows(ours.summary or {}, real.summary or {}):
            rows.append({"key": r["key"], "help": r["help"], "ours": mean_std(r["ours"]),
                         "real": mean_std(r["reference"]), "diff": _fmt(r["diff"]),
                         "rel": "–" if r["rel"] is None else f"{100 * r['rel']:+.0f} %", "z": _fmt(r["z"], 2)})
    env = jinja2.Environment(loader=jinja2.PackageLoader("fakevision.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]))
    table = env.get_template("reference.html").render(
        ours=ours, real=real, reference=str(reference), ref_name=ref_name, ref_format=ref_reader.format,
        rows=rows, max_stats=MAX_STATS, iris=IRIS, eyes=eyes, has_iris=has_iris, n_pairs=len(pairs), by_parent=by_parent,
        ours_n=_counts(ours.summary), real_n=_counts(real.summary),
    )
    return {"name": ref_name, "format": ref_reader.format, "count": len(ref_reader), "pairs": pairs, "eyes": eyes,
            "by_parent": by_parent, "table_html": table}


def _no_sample(i: int) -> Sample:
    raise IndexError(i)  # an output without readable samples: never asked for one


def _counts(summary: dict[str, Any] | None) -> str:
    return "0" if summary is None else f"{summary['n_with_iris']}"


__all__: Sequence[str] = ("open_reference", "reference_data")
