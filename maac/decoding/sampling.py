"""Multinomial sampling for self-critical training: n samples per clip, differentiable log-probs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from maac.decoding.decoded import Decoded, first_tensor
from maac.decoding.greedy import rollout


def _draw(logprobs: Tensor) -> tuple[Tensor, Tensor]:
    word = torch.multinomial(logprobs.detach().exp(), 1).squeeze(1)
    return word, logprobs.gather(1, word[:, None]).squeeze(1)


def sample(
    model: Any, encoder_out: Any, n: int, max_length: int, temperature: float = 1.0
) -> Decoded:
    """``n`` sampled captions per clip: B*n rows, clip-major (rows i*n .. i*n+n-1 are clip i).

    Tokens are drawn from softmax(logits / temperature) (without ``<pad>``/``<bos>``, and
    without ``<eos>`` first); ``logprobs`` are the log-probabilities of that distribution and
    keep their graph (no ``torch.no_grad`` here): ``-(reward - baseline) * logprobs.sum(1)``
    trains the model. Draws use torch's global generator (seed it for repeatable samples).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    ref = first_tensor(encoder_out)
    rows = torch.arange(ref.shape[0], device=ref.device).repeat_interleave(n)
    return rollout(model, encoder_out.index_select(rows), max_length, _draw, temperature)
