"""Interval bound propagation (IBP) of an eps-box through the first blocks of a backbone.

Gowal et al. 2018 (https://arxiv.org/abs/1810.12715), as used by interval-bound interpolation
(Datta et al., ICML 2023, https://arxiv.org/abs/2204.03511). Every rule maps
``(x, lower, upper)`` -- the clean activations and elementwise bounds of a box around them --
to the same triple after one layer, with ``lower <= f(p) <= upper`` for every point ``p`` of
the input box:

* affine layers (convolution, linear): centre ``mu' = W mu + b``, radius ``r' = |W| r``;
* BatchNorm: an affine map with the *clean* batch's statistics in training mode (the
  running statistics in eval mode): scale ``m = gamma / sqrt(var + eps)``, radius ``|m| r``;
* monotone non-decreasing layers (ReLU, LeakyReLU, max- and average-pooling, flatten):
  applied to both bounds;
* residual additions: bounds add (see the ResNet-12 rule);
* dropout and DropBlock: one random mask scales the activations and both bounds.

Rules use each layer's current attributes (``conv.weight``, ...), so they work on
learn2learn clones whose weights are adapted tensors. Register a rule for your own layer
with :func:`register_interval_rule`.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones.dropblock import DropBlock
from ..backbones.resnet12 import ResBlock

Triple = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (clean, lower, upper)
RULES: Dict[type, Callable[..., Triple]] = {}


def register_interval_rule(*types: type):
    """Decorator: ``@register_interval_rule(MyLayer)`` on ``fn(module, x, lower, upper) -> triple``."""

    def wrap(fn):
        for tp in types:
            RULES[tp] = fn
        return fn

    return wrap


def propagate(module: nn.Module, x: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> Triple:
    """Clean output and bounds of ``module`` over the box ``[lower, upper]`` around ``x``.

    Args:
        module: a layer with a registered rule (subclasses use their parent's rule).
        x: (B, ...) clean input; lower, upper: (B, ...) bounds with ``lower <= upper``.

    Raises:
        ValueError: no rule for the module's type.
    """
    for cls in type(module).__mro__:
        if cls in RULES:
            return RULES[cls](module, x, lower, upper)
    raise ValueError(f"no interval bound rule for {type(module).__name__}; supported: "
                     f"{sorted(t.__name__ for t in RULES)}. Register one with "
                     "fewshot.interpolation.register_interval_rule")


def missing_rule(backbone: nn.Module, stop: int):
    """``(block number, layer type name)`` of the first layer in ``backbone.blocks[:stop]`` that
    :func:`propagate` has no rule for (containers are looked into), or None when all have one."""
    def first_missing(module: nn.Module):
        rule = next((cls for cls in type(module).__mro__ if cls in RULES), None)
        if rule is None:
            return type(module).__name__
        if rule in (nn.Sequential, nn.ModuleList):
            for child in module.children():
                found = first_missing(child)
                if found:
                    return found
        return None

    for i, block in enumerate(list(backbone.blocks)[:stop]):
        found = first_missing(block)
        if found:
            return i + 1, found
    return None


def _centre_radius(lower, upper):
    return (upper + lower) / 2, (upper - lower) / 2


@register_interval_rule(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def _conv(m, x, lower, upper) -> Triple:
    mu, r = _centre_radius(lower, upper)
    mu = m._conv_forward(mu, m.weight, m.bias)  # handles every padding mode
    r = m._conv_forward(r, m.weight.abs(), None)
    return m(x), mu - r, mu + r


@register_interval_rule(nn.Linear)
def _linear(m, x, lower, upper) -> Triple:
    mu, r = _centre_radius(lower, upper)
    mu, r = F.linear(mu, m.weight, m.bias), F.linear(r, m.weight.abs())
    return m(x), mu - r, mu + r


@register_interval_rule(nn.modules.batchnorm._BatchNorm)
def _batch_norm(m, x, lower, upper) -> Triple:
    out = m(x)  # the clean pass (updates running statistics once, as a plain forward would)
    if m.training or m.running_mean is None:
        dims = [0] + list(range(2, x.dim()))
        mean, var = x.mean(dims), x.var(dims, unbiased=False)
    else:
        mean, var = m.running_mean, m.running_var
    scale = torch.rsqrt(var + m.eps)
    if m.weight is not None:
        scale = scale * m.weight
    shift = -scale * mean + (m.bias if m.bias is not None else 0.0)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    scale, shift = scale.view(shape), shift.view(shape)
    mu, r = _centre_radius(lower, upper)
    mu, r = mu * scale + shift, r * scale.abs()
    return out, mu - r, mu + r


@register_interval_rule(nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Tanh, nn.ELU, nn.MaxPool1d, nn.MaxPool2d,
                        nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool2d,
                        nn.AdaptiveMaxPool2d, nn.Flatten, nn.Identity)
def _monotone(m, x, lower, upper) -> Triple:
    return m(x), m(lower), m(upper)


@register_interval_rule(nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, DropBlock)
def _random_mask(m, x, lower, upper) -> Triple:
    """Dropout and DropBlock multiply by a random non-negative mask that depends on the shape
    only: one mask, drawn as ``m(ones)`` (the draw a plain forward makes), scales the clean
    activations and both bounds, so the bounds hold for the network as it runs this pass.
    The identity in eval mode."""
    if not m.training:
        return x, lower, upper
    mask = m(torch.ones_like(x))
    return x * mask, lower * mask, upper * mask


@register_interval_rule(nn.LeakyReLU)
def _leaky(m, x, lower, upper) -> Triple:
    if m.negative_slope < 0:
        raise ValueError(f"LeakyReLU with negative slope {m.negative_slope} is not monotone")
    return m(x), m(lower), m(upper)


@register_interval_rule(nn.Sequential, nn.ModuleList)
def _sequential(m, x, lower, upper) -> Triple:
    for child in m:
        x, lower, upper = propagate(child, x, lower, upper)
    return x, lower, upper


@register_interval_rule(ResBlock)
def _res_block(m: ResBlock, x, lower, upper) -> Triple:
    """Mirrors ``ResBlock.forward``; the shortcut's bounds are added to the main path's.

    Adding bounds treats the two paths as independent, which is sound (the true sum always
    lies inside) though looser than a joint bound.
    """
    def leaky(t: Triple) -> Triple:
        return tuple(F.leaky_relu(v, m.slope) for v in t)  # monotone for slope >= 0

    h = leaky(propagate(m.bn1, *propagate(m.conv1, x, lower, upper)))
    h = leaky(propagate(m.bn2, *propagate(m.conv2, *h)))
    h = propagate(m.bn3, *propagate(m.conv3, *h))
    s = propagate(m.shortcut, x, lower, upper)
    h = leaky(tuple(a + b for a, b in zip(h, s)))
    h = propagate(m.pool, *h)
    drop = getattr(m, "drop", None)  # dropout / DropBlock (MetaOptNet / FEAT settings)
    return h if drop is None else propagate(drop, *h)


def block_bounds(backbone: nn.Module, x: torch.Tensor, eps: float, stop: int) -> Triple:
    """Activations after ``backbone.blocks[:stop]`` and bounds of the box ``x +- eps``.

    The box is not clipped to the valid input range (as in the paper's code).

    Args:
        backbone: exposes ``blocks`` (Conv4, ResNet-12, or any learn2learn clone of them).
        x: (B, C, H, W) clean inputs.
        eps: box half-width (>= 0), a float or a tensor broadcastable to ``x`` (e.g. (1, C, 1, 1),
            per channel); at 0 the bounds equal the activations.
        stop: number of blocks S to propagate through, 1..len(blocks). At S = len(blocks)
            the head (flatten or global average pooling, both monotone) is applied too, so
            the result are the final features, as ``forward_from(x, 0, S)`` returns.

    Returns:
        ``(z, lower, upper)``, each (B, ...) at block S.
    """
    n = len(backbone.blocks)
    if not 1 <= stop <= n:
        raise ValueError(f"interval bounds need 1 <= layers <= {n} blocks, got {stop}")
    if (eps < 0).any() if torch.is_tensor(eps) else eps < 0:
        raise ValueError(f"interval bound eps must be >= 0, got {eps}")
    lower, upper = x - eps, x + eps
    for block in backbone.blocks[:stop]:
        x, lower, upper = propagate(block, x, lower, upper)
    if stop == n:
        x, lower, upper = backbone.head(x), backbone.head(lower), backbone.head(upper)
    return x, lower, upper
