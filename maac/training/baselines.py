"""A caption prior: what CIDEr-D a model reaches that never listens to the audio.

The prior captions every clip with one training caption: the one with the best mean CIDEr-D
on (a sample of) the training clips, document frequencies from the training references. Its
validation CIDEr-D is the floor a captioner must clear to show that it uses the audio. (The
other floor, a CE model trained and validated on blank encoder outputs, is
``maac train captioner --phase ce --no-audio``.)
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from maac.training.cider import CiderD


def caption_prior(
    train_refs: dict[str, Sequence[Sequence[str]]],
    val_refs: dict[str, Sequence[Sequence[str]]],
    max_candidates: int = 1000,
    max_clips: int = 300,
    seed: int = 0,
) -> dict[str, object]:
    """The prior's caption and its CIDEr-D on the training sample and on validation."""
    rng = random.Random(seed)
    candidates = sorted({tuple(ref) for refs in train_refs.values() for ref in refs})
    if len(candidates) > max_candidates:
        candidates = rng.sample(candidates, max_candidates)
    keys = sorted(train_refs)
    if len(keys) > max_clips:
        keys = rng.sample(keys, max_clips)
    scorer = CiderD({k: train_refs[k] for k in keys}, df_corpus=train_refs.values())
    best, best_score = candidates[0], -1.0
    for cand in candidates:
        score = float(scorer.scores(keys, [cand] * len(keys)).mean())
        if score > best_score:
            best, best_score = cand, score
    val = CiderD(val_refs).corpus_score({k: list(best) for k in val_refs})
    return {"caption": " ".join(best), "train_cider_d": best_score, "val_cider_d": val}
