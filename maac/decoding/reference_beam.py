"""A straightforward beam search: one clip at a time, one hypothesis per step call.

Each hypothesis holds its own batch-1 decoder state; the continuations of all live hypotheses go
through a priority queue (``heapq.nlargest``). Same algorithm and results as the batched
:func:`maac.decoding.beam.beam_search` (see its module docstring); kept as the tests' reference
and as the speed benchmark's baseline.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from maac.decoding.beam import Row, check_beam_args
from maac.decoding.decoded import Decoded, first_tensor, pad_rows, step_logprobs
from maac.text.vocabulary import BOS_ID, EOS_ID


@dataclass
class _Hypothesis:
    score: Tensor  # 0-d: summed log-probability
    ids: list[int]
    logprobs: list[float]
    state: Any  # the decoder state after feeding ids[:-1] (batch 1)


def _best_one(
    model: Any, encoder_out: Any, beam_size: int, max_length: int, length_penalty: float
) -> tuple[Row, torch.dtype]:
    ref = first_tensor(encoder_out)
    if ref.shape[0] != 1:
        raise ValueError(f"beam_search_one decodes one clip, got a batch of {ref.shape[0]}")
    k = beam_size
    live = [_Hypothesis(torch.zeros((), device=ref.device), [], [], model.init(encoder_out))]
    finished: list[Row] = []
    dtype = torch.float32
    for t in range(max_length):
        queue = []
        for hyp in live:
            prev = hyp.ids[-1] if hyp.ids else BOS_ID
            logits, state = model.step(hyp.state, torch.tensor([prev], device=ref.device))
            logp = step_logprobs(logits, t)[0]
            dtype = logp.dtype
            total = hyp.score.to(dtype) + logp
            top, words = total.topk(min(2 * k, len(total)))  # the global 2K best are among these
            for score, word in zip(top, words.tolist(), strict=True):
                queue.append((score, hyp, word, float(logp[word]), state))
        new_live: list[_Hypothesis] = []
        for rank, (score, hyp, word, logprob, state) in enumerate(
            heapq.nlargest(2 * k, queue, key=lambda c: float(c[0]))
        ):
            if not math.isfinite(float(score)):
                continue
            if word == EOS_ID:
                if rank < k:
                    finished.append((hyp.ids + [word], hyp.logprobs + [logprob],
                                     float(score / (t + 1) ** length_penalty)))
            elif len(new_live) < k:
                new_live.append(_Hypothesis(score, hyp.ids + [word], hyp.logprobs + [logprob],
                                            state))
        live = new_live
        if len(finished) >= k or not live:
            break
    else:
        for hyp in live:
            finished.append((hyp.ids, hyp.logprobs,
                             float(hyp.score / max_length ** length_penalty)))
    return max(finished, key=lambda row: row[2]), dtype


@torch.no_grad()
def beam_search_one(
    model: Any, encoder_out: Any, beam_size: int, max_length: int, length_penalty: float
) -> Decoded:
    """The best hypothesis of one clip (``encoder_out`` of batch 1), as a 1-row Decoded."""
    check_beam_args(beam_size, max_length, length_penalty)
    row, dtype = _best_one(model, encoder_out, beam_size, max_length, length_penalty)
    return pad_rows([row], dtype, first_tensor(encoder_out).device)


@torch.no_grad()
def beam_search_reference(
    model: Any, encoder_out: Any, beam_size: int, max_length: int, length_penalty: float
) -> Decoded:
    """:func:`beam_search_one` on every clip of a batch in turn (the benchmark's baseline)."""
    check_beam_args(beam_size, max_length, length_penalty)
    ref = first_tensor(encoder_out)
    rows = []
    dtype = torch.float32
    for i in range(ref.shape[0]):
        one = encoder_out.index_select(torch.tensor([i], device=ref.device))
        row, dtype = _best_one(model, one, beam_size, max_length, length_penalty)
        rows.append(row)
    return pad_rows(rows, dtype, ref.device)
