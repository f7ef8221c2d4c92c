"""Smart Augmentation (Lemley, Bazrafkan, Corcoran 2017) and the baselines it is measured against.

* ``networks`` -- augmenter network A (one shared or one per class); ``augmenter.SmartAugmenter`` trains A
  jointly with the target classifier B (α·B's loss on A's output + β·similarity to a same-class image).
* ``baselines`` -- none, classical, RandAugment, TrivialAugment, and the controls: fixed within-class blend, mixup.
* ``experiment.run_table`` -- the seed paper's table structure on a real set, >= 5 seeds, with CIs.
* ``api.train_smart`` -- train, save A, write A's outputs (labels.csv + manifest with parents);
  ``source`` -- the ``"smart"`` recipe source.

>>> from fakevision.smart import make_augmenter
>>> make_augmenter("smart:nets=1,k=2").name
'smart(k=2,nets=1,a=0.3,b=0.7,paper)'
"""

from fakevision.smart.augmenter import SmartAugmenter
from fakevision.smart.experiment import make_augmenter, run_table

__all__ = ["SmartAugmenter", "make_augmenter", "run_table"]
