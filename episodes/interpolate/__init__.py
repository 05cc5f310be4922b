"""Task interpolation machinery that needs no network (MLTI, arXiv 2106.02695).

A chain of small callables over a meta-batch of B stacked tasks (:class:`TaskBatch`)::

    from episodes.interpolate import MLTIMixer, PairTasks, BetaLambda, Mixup, meta_batches, stack_tasks
    mixer = MLTIMixer(pairing=PairTasks("random"), lam=BetaLambda(2.0), mixer=Mixup())
    for group in meta_batches(loader, 4):               # lists of 4 episode tuples
        mixed = mixer(stack_tasks(group), rng)           # rng: numpy Generator
        support, ys, query, yq = mixed.batch              # (B, ...) mixed tasks

Mixing at a hidden layer needs the network: ``MLTIMixer.pair`` prepares the aligned partners
and lambdas, and ``fewshot.interpolation`` mixes the representations.
"""

from .align import AlignClasses, align_classes
from .batch import TaskBatch, meta_batches, stack_tasks
from .labels import MixLabels, hard_labels, soft_labels
from .lam import BetaLambda, ConstantLambda
from .mixing import CutMix, Mixup, create_mixer, cutmix_box
from .mlti import MixedTasks, MLTIMixer, PairedTasks, n_way_of
from .pairing import PairTasks

__all__ = [
    "AlignClasses", "align_classes", "TaskBatch", "meta_batches", "stack_tasks", "MixLabels",
    "hard_labels", "soft_labels", "BetaLambda", "ConstantLambda", "CutMix", "Mixup",
    "create_mixer", "cutmix_box", "MixedTasks", "MLTIMixer", "PairedTasks", "n_way_of",
    "PairTasks",
]
