"""Greedy decoding and multinomial sampling, batched over rows, on the step API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from maac.decoding.decoded import Decoded, first_tensor, stack_steps, step_logprobs
from maac.text.vocabulary import BOS_ID, EOS_ID, PAD_ID

Pick = Callable[[Tensor], tuple[Tensor, Tensor]]  # log-probs (B, V) -> (token, its log-prob)


def rollout(
    model: Any, encoder_out: Any, max_length: int, pick: Pick, temperature: float = 1.0
) -> Decoded:
    """Decode every row of ``encoder_out`` with ``pick`` choosing each next token."""
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    ref = first_tensor(encoder_out)
    rows = ref.shape[0]
    state = model.init(encoder_out)
    tokens = torch.full((rows,), BOS_ID, dtype=torch.long, device=ref.device)
    ended = torch.zeros(rows, dtype=torch.bool, device=ref.device)
    out_tokens: list[Tensor] = []
    out_logprobs: list[Tensor] = []
    for t in range(max_length):
        logits, state = model.step(state, tokens)
        word, logprob = pick(step_logprobs(logits, t, temperature))
        word = word.masked_fill(ended, PAD_ID)
        logprob = logprob.masked_fill(ended, 0.0)  # no gradient after the end
        out_tokens.append(word)
        out_logprobs.append(logprob)
        ended = ended | (word == EOS_ID)
        tokens = word
        if bool(ended.all()):
            break
    return stack_steps(out_tokens, out_logprobs)


def _argmax(logprobs: Tensor) -> tuple[Tensor, Tensor]:
    best, word = logprobs.max(dim=-1)
    return word, best


@torch.no_grad()
def greedy(model: Any, encoder_out: Any, max_length: int) -> Decoded:
    """The most probable token at every step; ``scores`` = sum of log-probabilities."""
    return rollout(model, encoder_out, max_length, _argmax)
