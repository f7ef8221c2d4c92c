"""Smart Augmentation (Lemley, Bazrafkan, Corcoran 2017) and the baselines it is measured against.

* ``networks`` -- augmenter network A (one shared or one per class); ``augmenter.SmartAugmenter`` trains A
  jointly with the target classifier B (α·B's loss on A's output + β·similarity to a same-class image).
* ``baselines`` -- none, classical, RandAugment, TrivialAugment, and the controls: fixed within-class blend, mixup.
* ``conditions`` -- the table's conditions as one-line specs (``make_augmenter``); the table itself, the seed
  paper's structure on a real set with >= 5 seeds and CIs, is a measurement: ``fakevision.evaluate.smart_table``.
* ``api.train_smart`` -- train, save A, write A's outputs (labels.csv + manifest with parents);
  ``source`` -- the ``"smart"`` recipe source.

>>> from fakevision.smart import make_augmenter
>>> make_augmenter("smart:nets=1,k=2").name
'smart(k=2,nets=1,a=0.3,b=0.7,paper)'
"""

from fakevision.smart.augmenter import SmartAugmenter
from fakevision.smart.conditions import DEFAULT_CONDITIONS, make_augmenter

__all__ = ["DEFAULT_CONDITIONS", "SmartAugmenter", "make_augmenter"]
