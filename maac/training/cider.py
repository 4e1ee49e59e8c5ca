"""CIDEr-D (Vedantam et al. 2015) for validation and self-critical rewards (paper: CIDEr-D
optimisation), scoring words with precomputed reference n-grams.

The arithmetic is that of the coco-caption CIDEr-D that aac-metrics' ``cider_d`` reproduces,
including its quirks: n-grams of 1..4 words, tf-idf with ``log(max(1, df))``, a length taken
as the number of bigrams, clipped products ``min(cand, ref) * ref``, a Gaussian length penalty
(sigma 6), the mean over n, the mean over references, x10. It equals ``cider_d`` to 1e-6 when
the document frequencies come from the same corpus (``tests/test_training.py``).

The source of the document frequencies is a parameter: aac-metrics counts them over the
references of the corpus being scored (what validation does here), while self-critical rewards
use the training captions (the authors' code crashed while building that file: bug 3 of
``reference-maac.md``). Words, never token ids, are scored: ``<eos>`` is never part of a
hypothesis or a reference.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

Ngram = tuple[str, ...]
N = 4
SIGMA = 6.0
SCALE = 10.0


def ngrams(words: Sequence[str], n: int = N) -> Counter[Ngram]:
    """Counts of every 1..n-gram of a word sequence."""
    counts: Counter[Ngram] = Counter()
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i : i + k])] += 1
    return counts


def document_frequencies(corpus: Iterable[Sequence[Sequence[str]]], n: int = N) -> Counter[Ngram]:
    """In how many documents (a clip's references together) each n-gram occurs."""
    df: Counter[Ngram] = Counter()
    for refs in corpus:
        df.update({g for ref in refs for g in ngrams(ref, n)})
    return df


class _Vector:
    """tf-idf vectors per n, their norms, and the (bigram-count) length of one sentence."""

    __slots__ = ("vec", "norm", "length")

    def __init__(self, counts: Counter[Ngram], df: Counter[Ngram], log_docs: float, n: int):
        self.vec: list[dict[Ngram, float]] = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            value = float(tf) * (log_docs - math.log(max(1.0, float(df.get(gram, 0)))))
            self.vec[k][gram] = value
            norm[k] += value * value
            if k == 1:  # coco-caption's length: the number of bigrams
                length += tf
        self.norm = [math.sqrt(v) for v in norm]
        self.length = length


class CiderD:
    """CIDEr-D against fixed references, with document frequencies from ``df_corpus``.

    ``references[key]`` are a clip's reference captions as word lists; ``df_corpus`` is the
    corpus (one entry per clip, its references) the document frequencies come from; by default
    the references themselves (aac-metrics' behaviour). Reference vectors are computed once.
    """

    def __init__(
        self,
        references: dict[str, Sequence[Sequence[str]]],
        df_corpus: Iterable[Sequence[Sequence[str]]] | None = None,
        n: int = N,
        sigma: float = SIGMA,
    ) -> None:
        corpus = list(references.values()) if df_corpus is None else list(df_corpus)
        if not corpus:
            raise ValueError("CIDEr-D needs a non-empty corpus for its document frequencies")
        self.n, self.sigma = n, sigma
        self.df = document_frequencies(corpus, n)
        self.log_docs = math.log(float(len(corpus)))
        self.refs = {
            key: [_Vector(ngrams(ref, n), self.df, self.log_docs, n) for ref in refs]
            for key, refs in references.items()
        }

    def score(self, key: str, words: Sequence[str]) -> float:
        """CIDEr-D of one hypothesis (a word list) against clip ``key``'s references."""
        refs = self.refs[key]
        cand = _Vector(ngrams(words, self.n), self.df, self.log_docs, self.n)
        total = np.zeros(self.n)
        for ref in refs:
            penalty = math.exp(-((cand.length - ref.length) ** 2) / (2 * self.sigma**2))
            for k in range(self.n):
                ref_vec = ref.vec[k]
                sim = sum(min(v, ref_vec.get(g, 0.0)) * ref_vec.get(g, 0.0)
                          for g, v in cand.vec[k].items())
                if cand.norm[k] != 0 and ref.norm[k] != 0:
                    sim /= cand.norm[k] * ref.norm[k]
                total[k] += sim * penalty
        return float(total.mean() / len(refs) * SCALE)

    def scores(self, keys: Sequence[str], hypotheses: Sequence[Sequence[str]]) -> np.ndarray:
        """CIDEr-D of each hypothesis against the references of the clip of the same position."""
        return np.array([self.score(k, h) for k, h in zip(keys, hypotheses, strict=True)])

    def corpus_score(self, hypotheses: dict[str, Sequence[str]]) -> float:
        """Mean CIDEr-D over clips (the corpus score aac-metrics reports)."""
        keys = list(hypotheses)
        return float(self.scores(keys, [hypotheses[k] for k in keys]).mean())
