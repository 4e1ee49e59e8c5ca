"""The attention module Psi of the multi-modal attention decoder (paper Eq. 3-5).

Over a memory F (M x D: the acoustic sequence X^, the keywords W^ or the previously generated
words P^, each already projected into the latent space C by the decoder) and the decoder's
previous hidden state h_{t-1}:

    Eq. 3  A     = ReLU(F W_i + h_{t-1} W_s)                 (M x C)
    Eq. 4  alpha = softmax(A W_n) over the memory (padding masked out)
           ctx   = sum_m alpha_m F_m                         (D)
    Eq. 5  o     = GLU([ctx, h_{t-1}]) = ctx * sigmoid(W_g h_{t-1} + b_g)

F W_i does not depend on h, so callers compute it once per memory item (:meth:`keys`) and keep
it with the memory. The gate W_g is part of Psi: where one semantic module serves keywords and
previous words (the paper's shared module), they share its gate too (the authors' code had a
gate per memory).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class Attention(nn.Module):
    """Psi: additive attention over a memory, gated by the hidden state (Eq. 3-5)."""

    def __init__(self, memory_dim: int, hidden_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.w_i = nn.Linear(memory_dim, attention_dim, bias=False)  # Eq. 3, on the memory
        self.w_s = nn.Linear(hidden_dim, attention_dim)  # Eq. 3, on h_{t-1} (carries the bias)
        self.w_n = nn.Linear(attention_dim, 1, bias=False)  # Eq. 4 (a bias cancels in softmax)
        self.gate = nn.Linear(hidden_dim, memory_dim)  # Eq. 5, the GLU's gate

    def keys(self, memory: Tensor) -> Tensor:
        """F W_i for a memory (..., M, D) -> (..., M, C)."""
        return self.w_i(memory)

    def forward(
        self, memory: Tensor, keys: Tensor, h: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """memory (B, M, D), keys = :meth:`keys` (B, M, C), h (B, H), mask (B, M) bool or None.

        Returns o (B, D) and the attention weights alpha (B, M). Every row needs at least one
        valid memory item; an empty memory is the caller's case (o = 0).
        """
        a = F.relu(keys + self.w_s(h)[:, None, :])  # Eq. 3
        scores = self.w_n(a).squeeze(-1)  # (B, M)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(scores, dim=-1)  # Eq. 4
        context = torch.bmm(alpha[:, None, :], memory).squeeze(1)
        return context * torch.sigmoid(self.gate(h)), alpha  # Eq. 5
