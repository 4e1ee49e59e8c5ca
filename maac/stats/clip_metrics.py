"""A corpus metric recomputed for any multiset of test clips (a bootstrap resample).

A resample is given as clip weights: ``weights[b, i]`` = how often clip ``i`` was drawn in
resample ``b`` (each row sums to the number of clips). Two kinds of corpus metric:

- ``CorpusBleu``: BLEU-n pools n-gram counts and lengths over the corpus (Papineni et al.
  2002, coco-caption's "closest" reference length), so it is recomputed from per-clip counts on
  every resample; the unweighted value equals aac-metrics' corpus BLEU exactly.
- ``PerClipMean``: CIDEr-D, ROUGE-L, SPICE, SPIDEr and DCASE 2024's SPIDEr-FL, FENSE,
  SBERT-sim and FER are the mean of their per-clip scores
  (CIDEr-D with the document frequencies of the whole test set's references, held fixed);
  METEOR's corpus score pools statistics inside the Java tool, so its resamples move the corpus
  value by the change of the per-clip mean (an approximation: docs/statistics.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

TINY = 1e-15  # coco-caption's BLEU smoothing constants
SMALL = 1e-9


class ClipMetric(Protocol):
    def full(self) -> float:
        """The corpus value on the test set as it is."""
        ...

    def weighted(self, weights: np.ndarray) -> np.ndarray:
        """The corpus value on each resample, ``weights`` (B, n) -> (B,)."""
        ...


@dataclass(frozen=True)
class PerClipMean:
    """``corpus`` plus the change of the mean per-clip score under the weights."""

    corpus: float
    scores: np.ndarray

    def full(self) -> float:
        return float(self.corpus)

    def weighted(self, weights: np.ndarray) -> np.ndarray:
        # deviations from one clip's score: a constant score gives exactly the corpus value
        deviation = np.asarray(self.scores, dtype=np.float64) - float(self.scores[0])
        n = deviation.shape[0]
        return self.corpus + (weights @ deviation) / n - deviation.mean()


@dataclass(frozen=True)
class CorpusBleu:
    """Corpus BLEU-``order`` from per-clip counts: hypothesis length, closest reference length,
    and per n = 1..4 the hypothesis n-grams (``guess``) and clipped matches (``correct``)."""

    order: int
    testlen: np.ndarray  # (n,)
    reflen: np.ndarray  # (n,)
    guess: np.ndarray  # (n, >= order)
    correct: np.ndarray  # (n, >= order)

    def full(self) -> float:
        """In coco-caption's arithmetic (Python floats, same order of operations)."""
        score = 1.0
        for k in range(self.order):
            score *= float(int(self.correct[:, k].sum()) + TINY) / (
                int(self.guess[:, k].sum()) + SMALL)
        score = score ** (1.0 / self.order)
        ratio = (int(self.testlen.sum()) + TINY) / (int(self.reflen.sum()) + SMALL)
        return score * math.exp(1 - 1 / ratio) if ratio < 1 else score

    def weighted(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64)
        score = np.ones(w.shape[0])
        for k in range(self.order):
            score = score * (w @ self.correct[:, k] + TINY) / (w @ self.guess[:, k] + SMALL)
        score = score ** (1.0 / self.order)
        ratio = (w @ self.testlen + TINY) / (w @ self.reflen + SMALL)
        penalty = np.where(ratio < 1, np.exp(1 - 1 / np.minimum(ratio, 1.0)), 1.0)
        return score * penalty
