"""Full Context Embeddings of Matching Networks (Vinyals et al. 2016, appendix A).

Support, g(x_i, S): a bidirectional LSTM (hidden size D) reads the support set as a sequence in the
order given (the episode's class-major order) and a skip connection adds the backbone feature:

    g(x_i, S) = h_fwd_i + h_bwd_i + g'(x_i).

Query, f(x^, S): K "processing steps" of an LSTM whose recurrent state is the *concatenation* of
the previous output and an attention read-out over g(S) (paper eq. A.2-A.5):

    r_{k-1} = sum_i softmax_i(h_{k-1}^T g(x_i)) g(x_i)
    h^_k, c_k = LSTM(f'(x^), [h_{k-1}, r_{k-1}], c_{k-1})
    h_k = h^_k + f'(x^),          f(x^, S) = h_K.

The recurrent input [h, r] has size 2D while the output h^ and the cell c have size D, which no
stock LSTM cell allows, so :class:`QueryAttentionLSTM` writes the cell out: gates
(i, f, g, o) = W_x f'(x^) + W_hr [h_{k-1}, r_{k-1}] + b with W_x (4D, D), W_hr (4D, 2D);
c_k = sigmoid(f) c_{k-1} + sigmoid(i) tanh(g); h^_k = sigmoid(o) tanh(c_k). (Re-implementations
that *add* h and r, or feed [f', r] as the input, are not the paper's model.)
The paper leaves the initial state open: here h_0 = f'(x^) (so the first read already attends
with the query) and c_0 = 0; every LSTM state of the support set also starts at zero.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SupportBiLSTM(nn.Module):
    """g(x_i, S) = h_fwd_i + h_bwd_i + g'(x_i) for a support sequence of features (n_support, D)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.lstm = nn.LSTM(dim, dim, bidirectional=True)

    def forward(self, zs: torch.Tensor) -> torch.Tensor:
        """zs: (n_support, D) -> (n_support, D)."""
        out, _ = self.lstm(zs.unsqueeze(1))  # (n_support, 1, 2D); zero initial states
        out = out.squeeze(1)
        return out[:, : self.dim] + out[:, self.dim:] + zs


class QueryAttentionLSTM(nn.Module):
    """f(x^, S) = h_K of the attention LSTM above, for all queries at once (they are independent)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.weight_x = nn.Parameter(torch.empty(4 * dim, dim))  # input f'(x^) -> gates
        self.weight_hr = nn.Parameter(torch.empty(4 * dim, 2 * dim))  # state [h, r] -> gates
        self.bias = nn.Parameter(torch.empty(4 * dim))
        bound = 1.0 / math.sqrt(dim)  # nn.LSTMCell's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, zq: torch.Tensor, g: torch.Tensor, steps: int) -> torch.Tensor:
        """zq: (n_query, D) backbone features f'(x^), g: (n_support, D) -> (n_query, D)."""
        h = zq
        c = torch.zeros_like(zq)
        input_gates = zq @ self.weight_x.t() + self.bias  # the input is f'(x^) at every step
        for _ in range(steps):
            attention = (h @ g.t()).softmax(dim=1)  # (n_query, n_support), dot product as in A.5
            r = attention @ g
            gates = input_gates + torch.cat([h, r], dim=1) @ self.weight_hr.t()
            i, f, cand, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(cand)
            h = torch.sigmoid(o) * torch.tanh(c) + zq  # skip connection h_k = h^_k + f'(x^)
        return h
