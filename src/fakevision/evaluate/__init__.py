"""Measurement: did the fake data help, how far is it from the real data, and did the generator copy?

* ``protocol`` / ``api.evaluate_downstream`` -- real-only vs real+fake at several ratios (and fake only), >= 5
  seeds, optionally few real labels (``real_n``), mean ± std, differences with 95% CIs, JSON + table + plot; one
  protocol for every ``task``: ``classification`` (accuracy), ``landmarks`` (NME, failure rate, AUC; ``landmarks``),
  ``segmentation`` (IoU, Dice per class; ``segmentation``), each a data loader + model + loss + metric (``task``,
  trained by ``fit`` on the project's training loop).
* ``table`` -- task tables (conditions x real set sizes), resumable, from YAML files (built-ins: ``tables/``).
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
