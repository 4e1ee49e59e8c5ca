"""Keyword table and multi-hot keyword labels (the keyword encoder's targets).

A caption is normalised (``maac.text.normalize``), split with NLTK's ``word_tokenize`` and
tagged with ``pos_tag``. Nouns (``NN*``) are kept as written ("cars" stays "cars"); verbs
(``VB*``) become their base form with WordNet's lemmatiser ("passing" -> "pass"). Every keyword
must be a vocabulary word (the decoder embeds keywords as words), so, given the training word
counts, a verb's base form is chosen among WordNet's candidates: WordNet's own choice (the
shortest) if the training captions contain it, else the most frequent candidate they contain
("scraping" -> "scrape", not WordNet's "scrap"), else the verb stays as written ("dragging" when
"drag" never occurs). Dropped: "be", words shorter than ``min_length`` letters and the
configured stopwords (after lemmatisation).
The table holds the ``count`` most frequent words of the training captions (occurrences), ties
broken alphabetically. A word tagged both ways is one keyword whose ``kind`` is its more
frequent tag (noun on a tie). A clip's label is the multi-hot union of the keywords found in its
captions, with the same processing.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nltk
import numpy as np
from nltk.stem import WordNetLemmatizer

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.text.nltk_resources import ensure_nltk
from maac.text.normalize import normalize
from maac.text.vocabulary import Vocabulary

log = logging.getLogger(__name__)

NOUN, VERB = "noun", "verb"
ALWAYS_DROPPED = frozenset({"be"})
CSV_COLUMNS = ["rank", "word", "kind", "count"]


class KeywordError(MaacError):
    """A keyword table that is invalid or does not fit the vocabulary."""


class KeywordExtractor:
    """Keyword candidates of captions (memoised per normalised caption)."""

    def __init__(
        self,
        min_length: int = 3,
        stopwords: Iterable[str] = (),
        word_counts: Mapping[str, int] | None = None,
    ) -> None:
        """``word_counts``: training word counts (``Vocabulary.counts``) that verb base forms
        are chosen from; ``None`` takes WordNet's lemma as it is."""
        ensure_nltk()
        self.min_length = min_length
        self.stopwords = frozenset(w.lower() for w in stopwords) | ALWAYS_DROPPED
        self.word_counts = word_counts
        self._lemmatizer = WordNetLemmatizer()
        self._cache: dict[str, tuple[tuple[str, str], ...]] = {}

    def base_form(self, verb: str) -> str:
        """A verb's base form (see the module docstring for the choice among candidates)."""
        lemma = self._lemmatizer.lemmatize(verb, "v")
        counts = self.word_counts
        if counts is None or lemma in counts:
            return lemma
        known = [c for c in self._lemmatizer._morphy(verb, "v") if c in counts]
        return min(known, key=lambda c: (-counts[c], len(c), c)) if known else verb

    def candidates(self, caption: str) -> tuple[tuple[str, str], ...]:
        """(word, kind) of every kept noun and verb of a caption, in order, repeats included."""
        text = normalize(caption)
        found = self._cache.get(text)
        if found is None:
            found = tuple(self._process(nltk.pos_tag(nltk.word_tokenize(text))))
            self._cache[text] = found
        return found

    def _process(self, tagged: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str]]:
        for token, tag in tagged:
            if tag.startswith("NN"):
                word, kind = token, NOUN
            elif tag.startswith("VB"):
                word, kind = self.base_form(token), VERB
            else:
                continue
            if len(word) >= self.min_length and word not in self.stopwords:
                yield word, kind

    def words(self, captions: Iterable[str]) -> set[str]:
        """Union of the keyword candidates of some captions (e.g. a clip's five)."""
        return {word for caption in captions for word, _ in self.candidates(caption)}


@dataclass(frozen=True)
class Keyword:
    word: str
    kind: str  # NOUN or VERB
    count: int  # occurrences in the training captions


@dataclass(frozen=True)
class KeywordTable:
    """The keywords in rank order (rank 1 = most frequent); column ``i`` of the labels."""

    keywords: tuple[Keyword, ...]

    def __len__(self) -> int:
        return len(self.keywords)

    @property
    def words(self) -> list[str]:
        return [k.word for k in self.keywords]

    def labels(self, clips: Iterable[Sequence[str]], extractor: KeywordExtractor) -> np.ndarray:
        """Multi-hot matrix (clips x keywords, uint8): keywords found in each clip's captions."""
        index = {word: i for i, word in enumerate(self.words)}
        rows = []
        for captions in clips:
            row = np.zeros(len(index), dtype=np.uint8)
            row[[index[w] for w in extractor.words(captions) if w in index]] = 1
            rows.append(row)
        return np.stack(rows) if rows else np.zeros((0, len(index)), dtype=np.uint8)

    def check_vocabulary(self, vocab: Vocabulary) -> None:
        """Fail unless every keyword is a vocabulary word (the decoder embeds keywords)."""
        missing = [w for w in self.words if w not in vocab]
        if missing:
            shown = ", ".join(repr(w) for w in missing[:10])
            raise KeywordError(
                f"{len(missing)} keyword(s) not in the vocabulary: {shown}; the decoder embeds "
                "keywords as words: build the keywords with the vocabulary's word counts, add "
                "them to text.keywords.stopwords or lower the vocabulary min_count"
            )

    def save(self, path: Path | str) -> None:
        """Write ``keywords.csv`` (rank, word, kind, count), atomically."""
        with atomic_file(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            for rank, k in enumerate(self.keywords, start=1):
                writer.writerow([rank, k.word, k.kind, k.count])

    @classmethod
    def load(cls, path: Path | str) -> KeywordTable:
        """Read ``keywords.csv``, checking its columns and ranks."""
        path = Path(path)
        if not path.is_file():
            raise KeywordError(f"{path}: keyword table not found; run `maac text build` first")
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != CSV_COLUMNS:
                raise KeywordError(f"{path}: header {reader.fieldnames} is not {CSV_COLUMNS}")
            try:
                rows = [(int(r["rank"]), Keyword(r["word"], r["kind"], int(r["count"])))
                        for r in reader]
            except (TypeError, ValueError) as err:
                raise KeywordError(f"{path}: malformed row ({err}); rebuild the table") from err
        if [rank for rank, _ in rows] != list(range(1, len(rows) + 1)):
            raise KeywordError(f"{path}: ranks are not 1..{len(rows)} in order; rebuild the table")
        return cls(tuple(k for _, k in rows))


def extract_keywords(
    captions: Iterable[str], count: int, extractor: KeywordExtractor
) -> KeywordTable:
    """The ``count`` most frequent keyword candidates of some (training) captions."""
    totals: Counter[str] = Counter()
    kinds: Counter[tuple[str, str]] = Counter()
    for caption in captions:
        for word, kind in extractor.candidates(caption):
            totals[word] += 1
            kinds[word, kind] += 1
    ranked = sorted(totals.items(), key=lambda wc: (-wc[1], wc[0]))[:count]
    if len(ranked) < count:
        log.warning("only %d keyword candidates for %d requested keywords", len(ranked), count)
    return KeywordTable(tuple(
        Keyword(word, NOUN if kinds[word, NOUN] >= kinds[word, VERB] else VERB, n)
        for word, n in ranked
    ))
