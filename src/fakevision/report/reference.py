"""The report's "rendered vs real" section (``fakevision report OUT --reference PATH``): rendered eyes from the
output beside images of a real iris set, masks outlined on both, and a table of the iris statistics of both sets
(``fakevision.render.iris_stats``: size, grey levels, contrast, texture) with their differences.

Why in the report: whether rendered eyes look like real ones is a question people answer by eye *and* by number,
and answering it in the same page as the sample grid keeps the comparison next to the data it is about.

What counts as an eye sample: one with an instance of category ``iris`` that has a mask (what the ``render_eye``
source writes; the statistics need the mask). The reference is any data set the readers open
(``fakevision.io.readers.open_reader``, format detected); image/mask pairs (e.g. the MMU tar.xz) are read with
their masks named ``iris``. Statistics use at most ``MAX_STATS`` samples of each set, evenly spaced, so a large
output costs seconds, not minutes; the grid shows ``num_samples`` of each, evenly spaced too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from fakevision.core.errors import InputError
from fakevision.core.sample import Sample
from fakevision.io.images import encode_image
from fakevision.render.iris_stats import difference_rows, sample_iris_statistics, summarise
from fakevision.report.draw import outline_masks

IRIS = "iris"
MAX_STATS = 500
GRID_HEIGHT = 180  # display height of every picture in the grid, rendered and real alike


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

    p = Path(path)
    try:
        fmt = detect_format(p)
        return open_reader(fmt, p, **({"category": IRIS} if fmt == "mask_pairs" else {}))
    except InputError as e:
        raise InputError(f"reference data set: {e.problem}", e.path or p, fix=e.fix) from None
    except (OSError, ValueError) as e:
        raise InputError(f"reference data set cannot be read ({e})", p) from None


class _EyeSet:
    """Iris statistics and grid pictures of one set (the output or the reference), read lazily by index."""

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

    def grid(self, k: int) -> list[dict[str, Any]]:
        out = []
        for j in evenly_spaced(len(self.indices), k):
            s = self.load(self.indices[j])
            pic = outline_masks(s, GRID_HEIGHT)
            st = sample_iris_statistics(s, IRIS) or {}
            out.append({"id": s.id, "png": base64.b64encode(encode_image(pic, "png")).decode("ascii"),
                        "width": pic.shape[1], "height": pic.shape[0],
                        "caption": f"{s.width}x{s.height}, iris {st.get('diameter_px', '?')} px"})
        return out


def _fmt(v: float | None, digits: int = 3) -> str:
    """Numbers as the table prints them (significant digits; a dash for undefined).

    >>> _fmt(112.345), _fmt(0.00123456, 2), _fmt(None)
    ('112', '0.0012', '–')
    """
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


def mean_std(s: dict[str, float] | None) -> str:
    """``mean ± std`` of one ``summarise`` entry, as printed in the report."""
    return "–" if s is None else f"{_fmt(s['mean'])} ± {_fmt(s['std'], 2)}"


def reference_section(out_dir: str | Path, reference: str | Path, num_samples: int = 6,
                      dataset: Any | None = None) -> str:
    """The HTML fragment comparing the eye samples of output ``out_dir`` (``dataset``: its already opened
    ``FakevisionDataset``, or None when it holds no readable samples) with the real set at ``reference``."""
    ref_reader = open_reference(reference)  # first: a bad path fails before any work is done
    ref_name = Path(reference).name
    ours = _EyeSet(Path(out_dir).name, len(dataset) if dataset is not None else 0,
                   dataset.to_sample if dataset is not None else _no_sample,
                   dataset is not None and IRIS in dataset.categories)  # no iris category: skip reading them
    real = _EyeSet(ref_name, len(ref_reader), lambda i: ref_reader[i])
    rendered_grid, real_grid = ours.grid(num_samples), real.grid(num_samples)
    pairs = [{"ours": rendered_grid[i] if i < len(rendered_grid) else None,
              "real": real_grid[i] if i < len(real_grid) else None}
             for i in range(max(len(rendered_grid), len(real_grid)))]
    rows = []
    if ours.summary is not None or real.summary is not None:
        for r in difference_rows(ours.summary or {}, real.summary or {}):
            rows.append({"key": r["key"], "help": r["help"], "ours": mean_std(r["ours"]),
                         "real": mean_std(r["reference"]), "diff": _fmt(r["diff"]),
                         "rel": "–" if r["rel"] is None else f"{100 * r['rel']:+.0f} %", "z": _fmt(r["z"], 2)})
    env = jinja2.Environment(loader=jinja2.PackageLoader("fakevision.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]))
    return env.get_template("reference.html").render(
        ours=ours, real=real, reference=str(reference), ref_name=ref_name, ref_format=ref_reader.format,
        pairs=pairs, rows=rows, max_stats=MAX_STATS, iris=IRIS, grid_height=GRID_HEIGHT,
        ours_n=_counts(ours.summary), real_n=_counts(real.summary),
    )


def _no_sample(i: int) -> Sample:
    raise IndexError(i)  # an output without readable samples: never asked for one


def _counts(summary: dict[str, Any] | None) -> str:
    return "0" if summary is None else f"{summary['n_with_iris']}"


__all__: Sequence[str] = ("open_reference", "reference_section")
