"""TIM-GD: transductive information maximisation by gradient descent on the class weights.

Boudiaf et al., NeurIPS 2020, https://arxiv.org/abs/2008.11297 (code mboudiaf/TIM). The class
weights W start at the prototypes; logits are temperature * (-1/2 ||z - w_k||^2) and W follows
Adam on

    a * CE(support) - (b * H(Y_Q) - c * H(Y_Q | X_Q)),   (a, b, c) = (0.1, 1.0, 0.1),

with H(Y_Q) the entropy of the mean query prediction and H(Y_Q|X_Q) the mean per-query
entropy. The official TIM-GD runs 1000 Adam steps with learning rate 1e-4 on L2-normalised
features. The loss of a batch is the sum of the episodes' losses, and Adam is element-wise, so
each episode's weights follow exactly the updates they would get alone.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .affinity import sq_dists
from .prototypes import prototypes
from .registry import register_method


def tim_logits(z: torch.Tensor, weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """temperature * (-1/2 ||z_p - w_k||^2). z: (E, P, D), weights: (E, K, D) -> (E, P, K)."""
    return -0.5 * temperature * sq_dists(z, weights)


def _logits_t(xt: torch.Tensor, x_sq: torch.Tensor, weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logits with classes on the middle axis: (E, K, P), from xt (E, D, P) and x_sq (E, 1, P).

    Classes in the middle make the softmax over the few classes of an episode several times
    faster on CPU; ||x||^2 is computed once for all steps.
    """
    w_sq = weights.pow(2).sum(-1, keepdim=True)  # (E, K, 1)
    return -0.5 * temperature * (w_sq - 2.0 * weights @ xt + x_sq)


def _loss_t(logits_t: torch.Tensor, onehot_t: torch.Tensor, loss_weights: Sequence[float]) -> torch.Tensor:
    """Per-episode TIM loss from (E, K, S + Q) logits and (E, K, S) support one-hots."""
    a, b, c = loss_weights
    n_support = onehot_t.shape[2]
    ce = -(logits_t[:, :, :n_support].log_softmax(1) * onehot_t).sum(1).mean(1)
    pq = logits_t[:, :, n_support:].softmax(1)  # (E, K, Q)
    # log(p + 1e-12) as in the official code: probabilities that underflow to 0 would give
    # 0 * log 0 a NaN gradient otherwise.
    cond_ent = -(pq * torch.log(pq + 1e-12)).sum(1).mean(1)
    marginal = pq.mean(2)
    marg_ent = -(marginal * torch.log(marginal + 1e-12)).sum(1)
    return a * ce - (b * marg_ent - c * cond_ent)


def _prepare(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int):
    xt = torch.cat([zs, zq], 1).transpose(1, 2).contiguous()  # (E, D, S + Q)
    onehot_t = F.one_hot(ys, n_way).to(zs.dtype).transpose(1, 2)  # (E, K, S)
    return xt, xt.pow(2).sum(1, keepdim=True), onehot_t


def tim_loss(weights: torch.Tensor, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor,
             temperature: float, loss_weights: Sequence[float]) -> torch.Tensor:
    """Per-episode TIM loss (E,): a * CE_support - (b * H(Y_Q) - c * H(Y_Q|X_Q)).

    Args:
        weights: (E, K, D) class weights.
        zs, ys, zq: (E, S, D) support features, (E, S) labels, (E, Q, D) query features.
    """
    xt, x_sq, onehot_t = _prepare(zs, ys, zq, weights.shape[1])
    return _loss_t(_logits_t(xt, x_sq, weights, temperature), onehot_t, loss_weights)


@register_method("tim", norm="l2")
def tim(zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, n_way: int, *, steps: int = 1000,
        lr: float = 1e-4, temperature: float = 15.0,
        loss_weights: Sequence[float] = (0.1, 1.0, 0.1)) -> torch.Tensor:
    """TIM-GD: Adam on the class weights for ``steps`` steps, then softmax of the query logits.

    Args:
        zs: (E, S, D) support features.
        ys: (E, S) support labels.
        zq: (E, Q, D) query features.
        n_way: classes.
        steps: Adam steps (official TIM-GD: 1000).
        lr: Adam learning rate (1e-4).
        temperature: logit scale (15).
        loss_weights: (cross-entropy, marginal entropy, conditional entropy) weights.

    Returns:
        (E, Q, n_way) query probabilities.
    """
    if len(loss_weights) != 3:
        raise ValueError(f"loss_weights must be three numbers (CE, H(Y), H(Y|X)), got {loss_weights!r}")
    zs, zq = zs.detach(), zq.detach()
    xt, x_sq, onehot_t = _prepare(zs, ys, zq, n_way)
    weights = prototypes(zs, ys, n_way).clone().requires_grad_(True)
    adam = _Adam(weights, lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = _loss_t(_logits_t(xt, x_sq, weights, temperature), onehot_t, loss_weights).sum()
            (grad,) = torch.autograd.grad(loss, weights)
            adam.step(grad)
    with torch.no_grad():
        return _logits_t(xt, x_sq, weights, temperature)[:, :, zs.shape[1]:].softmax(1).transpose(1, 2)


class _Adam:
    """Adam (Kingma & Ba) on one tensor, with ``torch.optim.Adam``'s default hyper-parameters
    and arithmetic. Written out because the first ``torch.optim`` optimiser of a process
    imports torch's compiler stack (seconds), which would land in the timed inference."""

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps, self.t = param, lr, betas, eps, 0
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (self.v.sqrt() / (1 - b2 ** self.t) ** 0.5).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1 ** self.t))
