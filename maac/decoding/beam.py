"""Beam search, batched over clips and beams, on the decoder's step API.

The algorithm (``reference_beam.py`` implements the same one clip and one hypothesis at a time;
the tests compare the two token for token):

- every clip keeps ``beam_size`` (K) live hypotheses; the first step expands only the root;
- at each step the continuations of the clip's live hypotheses are ranked by their summed
  log-probability; among the 2K best, those ending with ``<eos>`` and ranked within the K best
  finish, with the score ``sum of log-probabilities / len ** length_penalty`` (len counts
  ``<eos>``); the K best that do not end with ``<eos>`` stay live;
- a clip stops once it has K finished hypotheses; after ``max_length`` steps the live ones
  (len = max_length, no ``<eos>``) are scored the same way and join them;
- the result is each clip's finished hypothesis with the best length-normalised score.

Each hypothesis carries its own decoder state, previous-word memory included: after every step
the (clips x K) state rows are reordered to follow their parent hypotheses (the authors' code
gave every hypothesis the root's memory: bug 1), with ``state.index_select`` or, for the MAAC
decoder, ``state.follow``, which leaves the per-clip encoder tensors in place unless clips
leave the batch. The first step runs one row per clip (the root) and then expands to K.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from maac.decoding.decoded import Decoded, first_tensor, pad_rows, step_logprobs
from maac.text.vocabulary import BOS_ID, EOS_ID

Row = tuple[list[int], list[float], float]  # token ids, per-token log-probabilities, score


def check_beam_args(beam_size: int, max_length: int, length_penalty: float) -> None:
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    if length_penalty < 0:
        raise ValueError(f"length_penalty must be non-negative, got {length_penalty}")


def _take(t: Tensor, beams: Tensor) -> Tensor:
    """Rows ``beams`` (A, K) of each clip's history ``t`` (A, K, T)."""
    return t.gather(1, beams[:, :, None].expand(-1, -1, t.shape[2]))


def _follow(state: Any, parents: Tensor, clip_rows: Tensor | None) -> Any:
    """The state of rows ``parents``. A state with ``follow`` (the MAAC decoder's) copies its
    per-clip encoder tensors only when the rows per clip change (``clip_rows`` not None)."""
    if hasattr(state, "follow"):
        return state.follow(parents, clip_rows)
    return state.index_select(parents)


@torch.no_grad()
def beam_search(
    model: Any, encoder_out: Any, beam_size: int, max_length: int, length_penalty: float
) -> Decoded:
    """The best hypothesis per clip; ``scores`` are the length-normalised scores used to rank."""
    check_beam_args(beam_size, max_length, length_penalty)
    ref = first_tensor(encoder_out)
    device, k = ref.device, beam_size
    clips = list(range(ref.shape[0]))  # the clips still searching, in row order
    finished: list[list[Row]] = [[] for _ in clips]
    state = model.init(encoder_out)  # one row per clip: only the root is expanded first
    width = 1  # state rows per clip: 1, then K
    last = torch.full((len(clips),), BOS_ID, dtype=torch.long, device=device)
    scores = hist_lp = None  # (A, width) summed log-probs; (A, width, t) per-token log-probs
    hist = torch.empty(len(clips), 1, 0, dtype=torch.long, device=device)  # (A, width, t)
    dtype = torch.float32
    for t in range(max_length):
        a_clips = len(clips)
        logits, state = model.step(state, last)
        logp = step_logprobs(logits, t)
        vocab = logp.shape[-1]
        if vocab < k:
            raise ValueError(f"beam_size {k} is larger than the vocabulary ({vocab})")
        logp = logp.view(a_clips, width, vocab)
        if scores is None:
            dtype = logp.dtype
            scores = logp.new_zeros((a_clips, 1))
            hist_lp = logp.new_empty(a_clips, 1, 0)
        n_top = min(2 * k, width * vocab)
        top, index = (scores[:, :, None] + logp).view(a_clips, width * vocab).topk(n_top, dim=1)
        beam, word = index // vocab, index % vocab
        is_eos = word == EOS_ID
        rank = torch.arange(n_top, device=device)
        ends = is_eos & (rank < k) & top.isfinite()
        if bool(ends.any()):
            a, r = ends.nonzero(as_tuple=True)
            b = beam[a, r]
            ids = torch.cat([hist[a, b], word[a, r][:, None]], dim=1).tolist()
            lps = torch.cat([hist_lp[a, b], logp[a, b, EOS_ID][:, None]], dim=1).tolist()
            norm = (top[a, r] / (t + 1) ** length_penalty).tolist()
            for ai, row_ids, row_lps, score in zip(a.tolist(), ids, lps, norm, strict=True):
                finished[clips[ai]].append((row_ids, row_lps, score))
        # the K best candidates that do not end: stable order of rank, EOS ones pushed last
        live = torch.where(is_eos, rank + n_top, rank).argsort(dim=1)[:, :k]
        new_beam, new_word = beam.gather(1, live), word.gather(1, live)
        scores = top.gather(1, live)
        word_lp = logp.view(a_clips, width * vocab).gather(1, new_beam * vocab + new_word)
        hist = torch.cat([_take(hist, new_beam), new_word[:, :, None]], dim=2)
        hist_lp = torch.cat([_take(hist_lp, new_beam), word_lp[:, :, None]], dim=2)
        rows = torch.arange(a_clips, device=device)[:, None] * width + new_beam  # parents
        running = [i for i, c in enumerate(clips) if len(finished[c]) < k]
        keep = torch.arange(a_clips, device=device)
        if len(running) < a_clips:  # drop the clips that are done
            keep = torch.tensor(running, dtype=torch.long, device=device)
            clips = [clips[i] for i in running]
            scores, hist, hist_lp = scores[keep], hist[keep], hist_lp[keep]
            rows, new_word = rows[keep], new_word[keep]
        if not clips:
            break
        same_rows = width == k and len(keep) == a_clips
        state = _follow(state, rows.reshape(-1),
                        None if same_rows else (keep * width).repeat_interleave(k))
        width = k
        last = new_word.reshape(-1)
    else:  # max_length reached: the clips still searching add their live hypotheses
        norm = (scores / max_length ** length_penalty).tolist()
        for ai, c in enumerate(clips):
            for j in range(k):
                if scores[ai, j].isfinite():
                    finished[c].append((hist[ai, j].tolist(), hist_lp[ai, j].tolist(),
                                        norm[ai][j]))
    best = [max(rows_c, key=lambda row: row[2]) for rows_c in finished]
    return pad_rows(best, dtype, device)
