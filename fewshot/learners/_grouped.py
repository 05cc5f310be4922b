"""Conv4 / ResNet-12 (+ linear head) for T tasks at once, tasks as channel groups.

The T tasks' activations live in one (n, T*C, H, W) tensor: a convolution with per-task weights
is one convolution with ``groups=T``, BatchNorm over T*C channels normalises every task with its
own statistics, ReLU and max-pooling act per channel. This is what ``vmap`` over a functional
forward computes, without its rearrangements: on a CPU ``vmap`` spends about as long moving the
task dimension in and out and decomposing BatchNorm's affine step as the convolutions take
(``scripts/bench_maml.py``). Other modules go through ``vmap`` (:func:`supports`).
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones.conv4 import Conv4
from ..backbones.resnet12 import ResBlock, ResNet12


def supports(module: nn.Module) -> bool:
    """True for ``backbone`` + ``head`` (nn.Linear) wrappers around Conv4 or ResNet-12."""
    backbone, head = getattr(module, "backbone", None), getattr(module, "head", None)
    return type(backbone) in (Conv4, ResNet12) and type(head) is nn.Linear and head.bias is not None


class _Grouped:
    def __init__(self, params: Dict[str, torch.Tensor], n_tasks: int, recorder):
        self.params, self.t, self.recorder = params, n_tasks, recorder

    def weight(self, module: nn.Module, prefix: str, name: str) -> Optional[torch.Tensor]:
        """(T * out, ...) weight of all tasks: the adapted one, else the module's own for every task."""
        w = self.params.get(prefix + name)
        if w is None:
            own = getattr(module, name)
            if own is None:
                return None
            w = own.unsqueeze(0).expand(self.t, *own.shape)
        return w.reshape(self.t * w.shape[1], *w.shape[2:])

    def conv(self, m: nn.Conv2d, prefix: str, h: torch.Tensor) -> torch.Tensor:
        if m.padding_mode != "zeros":
            raise ValueError("the vectorised engine supports zero-padded convolutions only")
        return F.conv2d(h, self.weight(m, prefix, "weight"), self.weight(m, prefix, "bias"), m.stride, m.padding,
                        m.dilation, m.groups * self.t)

    def bn(self, m: nn.BatchNorm2d, prefix: str, h: torch.Tensor) -> torch.Tensor:
        w, b = self.weight(m, prefix, "weight"), self.weight(m, prefix, "bias")
        if m.training or m.running_mean is None:
            if self.recorder.tracks(m):
                x = h.detach()
                n, c = self.t, m.num_features
                self.recorder.record(m, x.mean((0, 2, 3)).view(n, c), x.var((0, 2, 3), unbiased=True).view(n, c))
            return F.batch_norm(h, None, None, w, b, True, 0.0, m.eps)
        return F.batch_norm(h, m.running_mean.repeat(self.t), m.running_var.repeat(self.t), w, b, False, 0.0, m.eps)

    def layer(self, m: nn.Module, prefix: str, h: torch.Tensor) -> torch.Tensor:
        if isinstance(m, nn.Sequential):
            for name, child in m.named_children():
                h = self.layer(child, f"{prefix}{name}.", h)
            return h
        if isinstance(m, nn.Conv2d):
            return self.conv(m, prefix, h)
        if isinstance(m, nn.BatchNorm2d):
            return self.bn(m, prefix, h)
        if isinstance(m, nn.ReLU):
            return F.relu(h)
        if isinstance(m, nn.LeakyReLU):
            return F.leaky_relu(h, m.negative_slope)
        if isinstance(m, nn.MaxPool2d):
            return F.max_pool2d(h, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
        if isinstance(m, ResBlock):  # ResBlock.forward, written for channel groups
            out = F.leaky_relu(self.bn(m.bn1, prefix + "bn1.", self.conv(m.conv1, prefix + "conv1.", h)), m.slope)
            out = F.leaky_relu(self.bn(m.bn2, prefix + "bn2.", self.conv(m.conv2, prefix + "conv2.", out)), m.slope)
            out = self.bn(m.bn3, prefix + "bn3.", self.conv(m.conv3, prefix + "conv3.", out))
            out = F.leaky_relu(out + self.layer(m.shortcut, prefix + "shortcut.", h), m.slope)
            return self.layer(m.pool, prefix + "pool.", out)
        raise TypeError(f"no grouped form for {type(m).__name__}")


def forward(module: nn.Module, recorder, params: Dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``module`` (see :func:`supports`) on T tasks: x (T, n, C, H, W) -> (T, n, n_out) logits.

    Args:
        params: name (in ``module``) -> (T, *shape) per-task weights; missing ones are the
            module's own, shared.
    """
    n_tasks, n = x.shape[:2]
    g = _Grouped(params, n_tasks, recorder)
    h = x.transpose(0, 1).reshape(n, n_tasks * x.shape[2], *x.shape[3:])
    backbone = module.backbone
    for i, block in enumerate(backbone.blocks):
        h = g.layer(block, f"backbone.blocks.{i}.", h)
    if isinstance(backbone, ResNet12) or backbone.pool == "avg":  # global average pooling
        z = h.mean((2, 3)).view(n, n_tasks, -1)
    else:  # Conv4's flatten: (C, h, w) order within a task
        z = h.reshape(n, n_tasks, -1)
    z = z.transpose(0, 1)  # (T, n, D)
    w = params.get("head.weight")
    w = module.head.weight.expand(n_tasks, -1, -1) if w is None else w
    b = params.get("head.bias")
    b = module.head.bias.expand(n_tasks, -1) if b is None else b
    return torch.baddbmm(b.unsqueeze(1), z, w.transpose(1, 2))
