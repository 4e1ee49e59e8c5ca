"""CIDEr-D (Vedantam et al. 2015) for validation and self-critical rewards (paper: CIDEr-D
optimisation), scoring words with precomputed reference n-grams.

The arithmetic is that of the coco-caption CIDEr-D that aac-metrics' ``cider_d`` reproduces,
including its quirks: n-grams of 1..4 words, tf-idf with ``log(max(1, df))``, a length taken
as the number of bigrams, clipped products ``min(cand, ref) * ref``, a Gaussian length penalty
(sigma 6), the mean over n, the mean over references, x10. It equals ``cider_d`` to 1e-6 when
the document frequencies come from the same corpus (``tests/test_training.py``).

The source of the document frequencies is a parameter: aac-metrics counts them over the
references of the corpus being scored (what validation does here), while self-critical rewards
use the training captions (the authors' code crashed while building that file: docs/fidelity.md,
row 18). Words, never token ids, are scored: ``<eos>`` is never part of a
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
    words = tuple(words)
    counts: Counter[Ngram] = Counter()
    for k in range(1, n + 1):
        counts.update(words[i : i + k] for i in range(len(words) - k + 1))
    return counts


def document_frequencies(corpus: Iterable[Sequence[Counter[Ngram]]]) -> Counter[Ngram]:
    """In how many documents (a clip's references' n-gram counts together) each n-gram occurs."""
    df: Counter[Ngram] = Counter()
    for refs in corpus:
        df.update(set().union(*refs))
    return df


class _Vector:
    """tf-idf vectors per n, their norms, and the (bigram-count) length of one sentence."""

    __slots__ = ("vec", "norm", "length")

    def __init__(self, counts: Counter[Ngram], idf: dict[Ngram, float], log_docs: float, n: int):
        """``idf[g]`` = log(docs) - log(df(g)); n-grams absent from it have df 0: log(docs)."""
        self.vec: list[dict[Ngram, float]] = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            value = float(tf) * idf.get(gram, log_docs)
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
        counts = {key: [ngrams(ref, n) for ref in refs] for key, refs in references.items()}
        corpus = (list(counts.values()) if df_corpus is None else
                  [[ngrams(ref, n) for ref in refs] for refs in df_corpus])
        if not corpus:
            raise ValueError("CIDEr-D needs a non-empty corpus for its document frequencies")
        self.n, self.sigma = n, sigma
        self.df = document_frequencies(corpus)
        self.log_docs = math.log(float(len(corpus)))
        # log(max(1, df)): an n-gram in one document has the idf of one in none
        self.idf = {g: self.log_docs - math.log(float(d)) for g, d in self.df.items()}
        self.refs = {key: [_Vector(c, self.idf, self.log_docs, n) for c in refs]
                     for key, refs in counts.items()}

    def vector(self, words: Sequence[str]) -> _Vector:
        return _Vector(ngrams(words, self.n), self.idf, self.log_docs, self.n)

    def score(self, key: str, words: Sequence[str] | _Vector) -> float:
        """CIDEr-D of one hypothesis (a word list) against clip ``key``'s references."""
        cand = words if isinstance(words, _Vector) else self.vector(words)
        refs = self.refs[key]
        total = 0.0
        for ref in refs:
            delta = cand.length - ref.length
            penalty = math.exp(-(delta * delta) / (2 * self.sigma**2))
            for k in range(self.n):
                ref_vec = ref.vec[k]
                sim = 0.0
                for gram, value in cand.vec[k].items():
                    r = ref_vec.get(gram)
                    if r is not None:
                        sim += min(value, r) * r
                if cand.norm[k] != 0 and ref.norm[k] != 0:
                    sim /= cand.norm[k] * ref.norm[k]
                total += sim * penalty
        return total / self.n / len(refs) * SCALE

    def scores(self, keys: Sequence[str], hypotheses: Sequence[Sequence[str]]) -> np.ndarray:
        """CIDEr-D of each hypothesis against the references of the clip of the same position.

        Repeated hypotheses (samples of one clip often coincide) are vectorised once.
        """
        vectors: dict[tuple[str, ...], _Vector] = {}
        out = np.empty(len(keys))
        for i, (key, words) in enumerate(zip(keys, hypotheses, strict=True)):
            words = tuple(words)
            if words not in vectors:
                vectors[words] = self.vector(words)
            out[i] = self.score(key, vectors[words])
        return out

    def corpus_score(self, hypotheses: dict[str, Sequence[str]]) -> float:
        """Mean CIDEr-D over clips (the corpus score aac-metrics reports)."""
        keys = list(hypotheses)
        return float(self.scores(keys, [hypotheses[k] for k in keys]).mean())
