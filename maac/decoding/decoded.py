"""What every decoding algorithm returns, and the rules they share.

Shared rules: the first step feeds ``<bos>``; ``<pad>`` and ``<bos>`` are never generated; ``<eos>``
cannot be the first token (a caption has at least one word); at most ``max_length`` tokens are
generated, ``<eos>`` included. After a hypothesis ends its tokens are ``<pad>`` and their
log-probabilities 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from maac.text.vocabulary import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Decoded:
    """Decoded token sequences, batched over rows (clips, or samples of clips)."""

    tokens: Tensor  # (B, L) long: generated ids, EOS included when generated, PAD_ID after
    lengths: Tensor  # (B,) tokens up to and including EOS (or L if no EOS)
    logprobs: Tensor  # (B, L) per-token log-probability, 0 after the end (keeps grad for sampling)
    scores: Tensor  # (B,) sum of logprobs (beam: the length-normalised score used for ranking)

    def __len__(self) -> int:
        return self.tokens.shape[0]


def first_tensor(encoder_out: Any) -> Tensor:
    """A tensor of the encoder's outputs (its first dimension is the batch)."""
    for name in ("mask", "sequence", "logits", "probs"):
        value = getattr(encoder_out, name, None)
        if isinstance(value, Tensor):
            return value
    raise TypeError(f"cannot find the batch size of {type(encoder_out).__name__}")


def step_logprobs(logits: Tensor, step: int, temperature: float = 1.0) -> Tensor:
    """Log-softmax of one step's logits (B, V) over the tokens that may be generated at ``step``.

    ``<pad>`` and ``<bos>`` are masked at every step, ``<eos>`` at the first (step 0).
    """
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()  # half-precision logits: normalise in float32
    if temperature != 1.0:
        logits = logits / temperature
    banned = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
    banned[[PAD_ID, BOS_ID]] = True
    if step == 0:
        banned[EOS_ID] = True
    return logits.masked_fill(banned, float("-inf")).log_softmax(dim=-1)


def stack_steps(tokens: list[Tensor], logprobs: list[Tensor]) -> Decoded:
    """Decoded from per-step (B,) tokens and log-probabilities (PAD / 0 after the end)."""
    tok = torch.stack(tokens, dim=1)
    lp = torch.stack(logprobs, dim=1)
    lengths = (tok != PAD_ID).sum(dim=1)  # PAD is never generated: it marks the end only
    return Decoded(tok, lengths, lp, lp.sum(dim=1))


def pad_rows(
    rows: list[tuple[list[int], list[float], float]], dtype: torch.dtype, device: torch.device
) -> Decoded:
    """Decoded from per-row (token ids, per-token log-probabilities, score)."""
    width = max(len(ids) for ids, _, _ in rows)
    tokens = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    logprobs = torch.zeros(len(rows), width, dtype=dtype)
    for i, (ids, lps, _) in enumerate(rows):
        tokens[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        logprobs[i, : len(ids)] = torch.tensor(lps, dtype=dtype)
    lengths = torch.tensor([len(ids) for ids, _, _ in rows])
    scores = torch.tensor([score for _, _, score in rows], dtype=dtype)
    return Decoded(tokens.to(device), lengths.to(device), logprobs.to(device), scores.to(device))
