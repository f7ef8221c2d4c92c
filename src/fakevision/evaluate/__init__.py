"""Measurement: did the fake data help, how far is it from the real data, and did the generator copy?

* ``protocol`` / ``api.evaluate_downstream`` -- real-only vs real+fake at several ratios, >= 5 seeds,
  mean ± std, differences with 95% CIs, JSON + table + plot.
* ``distances`` -- FID and KID over features; ``features`` -- extractors (standard Inception from a local file,
  or the no-download ``randconv-v1``); every number names its extractor.
* ``memorisation`` -- nearest-neighbour copy detection against a held-out reference.
* ``adversarial`` -- FGSM / one-pixel attacks, hard samples, clean vs adversarial accuracy.
* ``report`` -- HTML fragments for the project report.

>>> from fakevision.evaluate import fid_from_features
>>> import numpy as np
>>> round(fid_from_features(np.eye(3), np.eye(3)).value, 9)
0.0
"""

from fakevision.evaluate.distances import FIDResult, KIDResult, fid_from_features, kid_from_features
from fakevision.evaluate.features import get_extractor
from fakevision.evaluate.memorisation import find_near_copies, memorisation_check

__all__ = [
    "FIDResult",
    "KIDResult",
    "fid_from_features",
    "find_near_copies",
    "get_extractor",
    "kid_from_features",
    "memorisation_check",
]
