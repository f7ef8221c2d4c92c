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


def relative_difference_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """mean(a) / mean(b) - 1 (e.g. -0.15: 15 % lower than b) with a 95% CI from the delta method on the log ratio,
    Welch degrees of freedom; for positive measurements (errors, IoU) whose goals are stated in relative terms.

    >>> d = relative_difference_ci([0.085, 0.080, 0.082, 0.084, 0.079], [0.100, 0.098, 0.103, 0.101, 0.099])
    >>> round(d["rel"], 3), d["excludes_zero"]
    (-0.182, True)
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mx, my = float(x.mean()), float(y.mean())
    rel = mx / my - 1.0 if my != 0 else float("nan")
    if len(x) < 2 or len(y) < 2 or mx <= 0 or my <= 0:
        return {"rel": rel, "ci95": None, "excludes_zero": False}
    vx, vy = x.var(ddof=1) / (len(x) * mx**2), y.var(ddof=1) / (len(y) * my**2)
    se = float(np.sqrt(vx + vy))
    if se == 0.0:
        return {"rel": rel, "ci95": [rel, rel], "excludes_zero": rel != 0.0}
    dof = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    log_ratio = float(np.log(mx / my))
    lo, hi = float(np.expm1(log_ratio - half)), float(np.expm1(log_ratio + half))
    return {"rel": rel, "ci95": [lo, hi], "excludes_zero": bool(lo > 0 or hi < 0)}


def fmt_value_diff(d: dict[str, Any], digits: int = 4) -> str:
    """``"-0.0123 [-0.0200, -0.0046]"`` from a ``difference_ci`` result, in the measurement's own units."""
    if d["ci95"] is None:
        return f"{d['diff']:+.{digits}f} [no CI: < 2 seeds]"
    lo, hi = d["ci95"]
    return f"{d['diff']:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def fmt_rel(d: dict[str, Any]) -> str:
    """``"-15.2 % [-22.0, -8.1]"`` from a ``relative_difference_ci`` result."""
    if d["ci95"] is None:
        return f"{100 * d['rel']:+.1f} % [no CI]"
    lo, hi = d["ci95"]
    return f"{100 * d['rel']:+.1f} % [{100 * lo:+.1f}, {100 * hi:+.1f}]"
