"""MLTI: meta-learning with task interpolation (Yao et al., ICLR 2022, https://arxiv.org/abs/2106.02695).

Each task of a meta-batch is paired with a partner, the partner's classes are aligned to the
anchor's by a random permutation, lambda ~ Beta(alpha, alpha) is drawn per pair, and the pair
is mixed at layer l -- the input (mixup or CutMix, prepared by :mod:`episodes.interpolate`)
or a hidden block (mixup of the representations, :class:`~.programs.HiddenMix`). The learner
trains on the mixed tasks only, for support and query alike (for MAML: inner and outer loss).

Defaults follow the paper where it and the released code disagree (random partners, mixup);
``pairing: released, mix: cutmix, layer: 0`` reproduces the released ProtoNet image recipe.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from episodes.interpolate import AlignClasses, BetaLambda, MixLabels, MLTIMixer, PairTasks, TaskBatch, create_mixer

from .programs import Plain, View, run_from, run_to


class HiddenMix:
    """MLTI at a hidden layer: embed anchor and aligned partner up to ``layer`` (in one pass,
    so BatchNorm sees both), mix with the pair's lambda, run the rest of the network.

    Args:
        layer: 1..len(blocks) (0, the input, is mixed before the network instead).
        mixer: ``(a, b, lam, rng) -> (mixed, lam_eff)`` over (1, n, ...) tensors.
        lam: this pair's lambda.
        rng: numpy generator for the mixer (CutMix boxes).
        mix_labels: ``(y_a, y_b, lam_eff, n_way) -> labels`` over (1, n) label tensors.
        n_way: classes per task.

    Inputs and labels: ``(anchor, aligned partner)``, each (n, ...) and (n,).
    """

    def __init__(self, layer: int, mixer, lam: float, rng: np.random.Generator, mix_labels, n_way: int):
        self.layer, self.mixer, self.lam, self.rng = layer, mixer, lam, rng
        self.mix_labels, self.n_way = mix_labels, n_way

    def __call__(self, backbone: nn.Module, inputs: Sequence[torch.Tensor], labels: Sequence[torch.Tensor]):
        x_a, x_b = inputs
        h = run_to(backbone, torch.cat([x_a, x_b]), self.layer)
        h_a, h_b = h[: len(x_a)], h[len(x_a):]
        mixed, lam_eff = self.mixer(h_a.unsqueeze(0), h_b.unsqueeze(0), self.lam, self.rng)
        y = self.mix_labels(labels[0].unsqueeze(0), labels[1].unsqueeze(0), lam_eff, self.n_way)[0]
        return [View(run_from(backbone, mixed[0], self.layer), y)], {}


def _ce_only(ce, aux):
    return ce


class MLTI:
    """Task interpolation over a meta-batch.

    Args:
        n_blocks: blocks of the backbone (layers are 0 = input .. n_blocks = final features).
        layer: where to mix: an int, or ``"random"`` to draw one of ``layers`` per meta-batch.
        layers: candidates for ``"random"`` (default: the input and after every block but the
            last, 0..n_blocks-1).
        alpha, beta: lambda ~ Beta(alpha, beta); beta defaults to alpha.
        mix: input-level mixing, ``"mixup"`` or ``"cutmix"``.
        hidden_mix: mixing of hidden representations (``"mixup"``; ``"cutmix"`` needs spatial maps).
        pairing: ``"random"`` (paper), ``"released"``, ``"cyclic"`` or ``"self"`` (see
            :class:`episodes.interpolate.PairTasks`).
        p_cross: cross-task probability of the ``"released"`` pairing.
        label_sharing: all tasks share one label space (no class permutation, labels mixed).
        soft_labels: train on soft mixed labels (meaningful with ``label_sharing``).
    """

    def __init__(self, n_blocks: int, layer: Union[int, str] = "random", layers: Optional[Sequence[int]] = None,
                 alpha: float = 2.0, beta: Optional[float] = None, mix: str = "mixup",
                 hidden_mix: str = "mixup", pairing: str = "random", p_cross: float = 0.5,
                 label_sharing: bool = False, soft_labels: bool = False):
        self.layers = list(range(n_blocks)) if layers is None else [int(v) for v in layers]
        if layer != "random":
            if isinstance(layer, bool) or not isinstance(layer, int):
                raise ValueError(f"MLTI layer must be an integer or 'random', got {layer!r}")
            self.layers = [layer]
        bad = [v for v in self.layers if not 0 <= v <= n_blocks]
        if not self.layers or bad:
            raise ValueError(f"MLTI layers must lie in 0..{n_blocks} (0 = input, {n_blocks} = final "
                             f"features), got {self.layers}")
        self.mix_labels = MixLabels(label_sharing, soft_labels)
        self.mixer = MLTIMixer(PairTasks(pairing, p_cross), AlignClasses(permute=not label_sharing),
                               BetaLambda(alpha, beta), create_mixer(mix), self.mix_labels)
        self.hidden_mixer = create_mixer(hidden_mix)

    def meta_batch_loss(self, adapter, batch: TaskBatch, n_way: int, rng: np.random.Generator,
                        progress: int = 0) -> Dict[str, torch.Tensor]:
        """Mean loss over the B mixed tasks of ``batch``; logs the layer and mean lambda too."""
        layer = int(self.layers[rng.integers(len(self.layers))])
        paired = self.mixer.pair(batch, rng)
        losses, logs = [], []
        if layer == 0:
            mixed = self.mixer.mix(paired, rng)
            lam = mixed.lam_support.mean()
            for i in range(batch.n_tasks):
                xs, ys, xq, yq = mixed.batch.task(i)
                out = adapter.task_loss(Plain(), (xs,), (ys,), (xq,), (yq,), n_way, _ce_only)
                losses.append(out[0])
                logs.append(out[1])
        else:
            a, b = paired.anchor, paired.partner
            lam = torch.as_tensor(paired.lam).mean()
            for i in range(batch.n_tasks):
                program = HiddenMix(layer, self.hidden_mixer, float(paired.lam[i]), rng, self.mix_labels, n_way)
                out = adapter.task_loss(program, (a.support[i], b.support[i]),
                                        (a.support_labels[i], b.support_labels[i]), (a.query[i], b.query[i]),
                                        (a.query_labels[i], b.query_labels[i]), n_way, _ce_only)
                losses.append(out[0])
                logs.append(out[1])
        result = {"loss": torch.stack(losses).mean()}
        for key in logs[0]:
            result[key] = torch.stack([log[key] for log in logs]).mean()
        result["mix_layer"] = torch.tensor(float(layer))
        result["mix_lambda"] = lam.detach().float().cpu()
        result["mixed_tasks"] = torch.tensor(float(batch.n_tasks))
        return result
