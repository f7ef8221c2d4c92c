"""Summary statistics for results over seeds: mean ± std and the difference of two conditions with a 95% CI.

Why Welch's t interval: conditions are trained from independent random streams (the seed fixes init and
sampling, but two conditions with the same seed do not see the same batches after the first augmentation draw),
so the runs are not paired; Welch's interval does not assume equal spread either. With 5 seeds the t quantile
(2.78 at 4 dof) makes the interval honest-wide: a CI excluding 0 needs a real effect.

>>> s = summarise([0.80, 0.82, 0.84])
>>> round(s["mean"], 3), round(s["std"], 3), s["n"]
(0.82, 0.02, 3)
>>> d = difference_ci([0.90, 0.91, 0.92, 0.93, 0.94], [0.80, 0.81, 0.82, 0.83, 0.84])
>>> round(d["diff"], 3), d["ci95"][0] > 0
(0.1, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample std (ddof=1; 0 for one value), n and the values themselves."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()) if len(v) else float("nan"), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "n": int(len(v)), "values": [float(x) for x in v]}


def difference_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """mean(a) - mean(b) with a Welch t confidence interval; ``excludes_zero`` says whether it is significant."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2:
        return {"diff": diff, "ci95": None, "excludes_zero": False, "dof": None}
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = float(np.sqrt(vx + vy))
    if se == 0.0:
        return {"diff": diff, "ci95": [diff, diff], "excludes_zero": diff != 0.0, "dof": None}
    dof = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    lo, hi = diff - half, diff + half
    return {"diff": diff, "ci95": [lo, hi], "excludes_zero": bool(lo > 0 or hi < 0), "dof": float(dof)}


def fmt_pct(mean: float, std: float) -> str:
    """``"95.7 ± 1.2"`` from fractions."""
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def fmt_diff(d: dict[str, Any]) -> str:
    """``"+3.1 [+0.4, +5.8]"`` in points, from a ``difference_ci`` result."""
    if d["ci95"] is None:
        return f"{100 * d['diff']:+.1f} [no CI: < 2 seeds]"
    lo, hi = d["ci95"]
    return f"{100 * d['diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
