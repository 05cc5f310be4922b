"""Matching Networks (Vinyals et al. 2016, https://arxiv.org/abs/1606.04080).

Prediction for a query x^ is a mixture of the support labels weighted by attention:

    y^ = sum_i a(x^, x_i) y_i,   a(x^, x_i) = softmax_i(cos(f(x^), g(x_i)) / temperature)

and the loss is -log y^_y. Vinyals et al. use the plain cosine (temperature 1, the default here);
many re-implementations sharpen it with a temperature, offered as ``temperature`` /
``learn_temperature``. Without Full Context Embeddings f = g = the backbone.

Full Context Embeddings (``fce=True``; see :mod:`fewshot.learners.fce`) make g and f depend on the
support set: a bidirectional LSTM over the support and a K-step attention LSTM for each query.
Both are functions of backbone features of the episode, so ``logits_from_features`` stays exact and
evaluation may embed a split once (``uses_features``).
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .base import Learner
from .fce import QueryAttentionLSTM, SupportBiLSTM

#: ``similarity`` choices: the paper's cosine, or the re-implementations' support-only normalisation
SIMILARITIES = ("cosine", "support_normalised")
# log y^ of a class without any support point is -inf; a floor keeps the loss finite.
_LOG_FLOOR = -100.0


def class_log_probs(scores: torch.Tensor, support_labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """log y^ from attention scores, in log space (exact where the probabilities underflow).

    Args:
        scores: (n_query, n_support) pre-softmax attention scores.
        support_labels: (n_support,) in 0..n_way-1.

    Returns:
        (n_query, n_way): log sum_{i: y_i = k} softmax_i(scores)_i, floored at -100.
    """
    log_a = scores.log_softmax(dim=1)  # (n_query, n_support)
    member = F.one_hot(support_labels, n_way).t().bool()  # (n_way, n_support)
    masked = log_a.unsqueeze(1).masked_fill(~member.unsqueeze(0), float("-inf"))
    return masked.logsumexp(dim=2).clamp(min=_LOG_FLOOR)


class MatchingNet(Learner):
    """Cosine attention over the support set; logits are log y^ (so argmax and NLL apply).

    Args:
        backbone: feature extractor g' = f' (shared, as in the paper's experiments).
        fce: use Full Context Embeddings (needs ``feature_dim``).
        fce_steps: K, the processing steps of the query attention LSTM (default 2; the paper
            leaves K open).
        feature_dim: D, the backbone's output size; ``fewshot.runs.build`` fills it in from a probe
            forward pass when a config leaves it out.
        temperature: a = softmax(cos / temperature); 1 is the paper.
        learn_temperature: learn 1 / temperature (initialised from ``temperature``).
        similarity: ``"cosine"`` (the paper) or ``"support_normalised"``: f(x^) . g(x_i) / |g(x_i)|,
            the query left unnormalised, as the widely used re-implementations compute it
            (AntreasAntoniou's TensorFlow code and gitabcworld/MatchingNetworks' port, which report
            the paper's Omniglot numbers); the query's norm then sets how sharp its attention is.
    """

    #: ``build_learner`` passes the probed backbone output size as ``feature_dim``.

    def __init__(self, backbone: nn.Module, fce: bool = False, fce_steps: int = 2,
                 feature_dim: Optional[int] = None, temperature: float = 1.0,
                 learn_temperature: bool = False, similarity: str = "cosine"):
        super().__init__(backbone)
        if similarity not in SIMILARITIES:
            raise ValueError(f"MatchingNet similarity must be one of {', '.join(SIMILARITIES)}, got {similarity!r}")
        self.similarity = similarity
        if not temperature > 0:
            raise ValueError(f"MatchingNet temperature must be > 0, got {temperature}")
        if fce_steps < 1:
            raise ValueError(f"MatchingNet fce_steps must be >= 1, got {fce_steps}")
        self.fce = fce
        self.fce_steps = fce_steps
        if fce:
            if feature_dim is None or feature_dim < 1:
                raise ValueError("MatchingNet with fce=True needs feature_dim (the backbone output size, "
                                 "e.g. 64 for conv4 on 28x28 or 1600 on 84x84); set model.options.feature_dim")
            self.support_lstm = SupportBiLSTM(feature_dim)
            self.query_lstm = QueryAttentionLSTM(feature_dim)
        scale = torch.tensor(1.0 / temperature)
        if learn_temperature:
            self.scale = nn.Parameter(scale)
        else:
            self.register_buffer("scale", scale)

    def contextual_embeddings(self, zs: torch.Tensor, zq: torch.Tensor):
        """(g(x_i, S), f(x^, S)): (n_support, D), (n_query, D); the identity without FCE."""
        if not self.fce:
            return zs, zq
        g = self.support_lstm(zs)
        return g, self.query_lstm(zq, g, self.fce_steps)

    def logits_from_features(self, zs, ys, zq, n_way):
        g, f = self.contextual_embeddings(zs, zq)
        query = F.normalize(f, dim=1) if self.similarity == "cosine" else f
        cos = query @ F.normalize(g, dim=1).t()  # (n_query, n_support)
        return class_log_probs(self.scale * cos, ys, n_way)

    def episode_loss(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                     query_labels: torch.Tensor, n_way: int) -> Dict[str, torch.Tensor]:
        """NLL of log y^ over the queries (one backbone pass over support and query)."""
        z = self.embed(torch.cat([support, query]))
        log_p = self.logits_from_features(z[: len(support)], support_labels, z[len(support):], n_way)
        loss = F.nll_loss(log_p, query_labels)
        acc = (log_p.argmax(1) == query_labels).float().mean()
        return {"loss": loss, "nll": loss.detach(), "acc": acc.detach()}
