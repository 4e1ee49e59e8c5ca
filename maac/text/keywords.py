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

Verb forms tagged as nouns: on lower-cased captions the tagger reads many "-s" verbs as plural
nouns ("a dog barks") and gerunds as nouns ("loud chirping"). A noun-tagged "-s" or "-ing" word
whose verb base form is another word is read as that verb if WordNet has no noun for it
("occurs", "chirping"). If it has ("barks", "birds", "building"), an "-s" word follows its
context where number agreement decides (``context_cue``): a verb after a singular subject ("a
dog barks", "it hums"), a noun at the start, after a determiner, adjective, number, possessive
or preposition ("birds chirp", "loud beeps", "of bells") or before a plural verb ("chimes are").
Elsewhere (and for every "-ing" word) the word's reading over the training captions decides,
set by ``KeywordExtractor.fit``: for an "-ing" word the tagger's majority; for an "-s" word the
majority of the cues of its noun-tagged occurrences, counting also weaker ones (verb before a
particle or an "-ly" adverb, after "and" that follows a verb, after bare singular nouns that
open a clause: "passes by", "flows and splashes", "water drips into a sink"), a tie going to
the tagger's majority. So "birds", "waves", "wind chimes" and "leaves" stay nouns, while
"barks", "drips" and "chirping" count as "bark", "drip" and "chirp".

The table holds the ``count`` most frequent words of the training captions (occurrences), ties
broken alphabetically. A word tagged both ways is one keyword whose ``kind`` is its more
frequent reading (noun on a tie). A clip's label is the multi-hot union of the keywords found in
its captions, with the same processing (the fitted verb forms included).
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nltk
import numpy as np
from nltk.corpus import wordnet
from nltk.stem import WordNetLemmatizer

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.text.nltk_resources import ensure_nltk
from maac.text.normalize import normalize
from maac.text.vocabulary import Vocabulary
from maac.textfile import read_utf8

log = logging.getLogger(__name__)

NOUN, VERB = "noun", "verb"
AMBIGUOUS = "ambiguous"  # an inflected verb form that is also a noun
ALWAYS_DROPPED = frozenset({"be"})
CSV_COLUMNS = ["rank", "word", "kind", "count"]

Tagged = tuple[tuple[str, str], ...]
SINGULAR_SUBJECTS = frozenset({
    "it", "he", "she", "someone", "somebody", "something", "everything", "nothing", "everyone",
    "anyone", "that", "which", "who",
})
SINGULAR_DETERMINERS = frozenset({"a", "an", "another", "each", "every", "one", "this"})
QUANTITY_WORDS = frozenset({"couple", "dozen", "few", "lot", "bunch", "number"})  # "a few times"
NOUN_BEFORE_TAGS = frozenset({"DT", "JJ", "JJR", "JJS", "CD", "PRP$", "POS", "IN"})
PLURAL_VERB_TAGS = frozenset({"VBP", "MD"})
PLURAL_VERBS = frozenset({"are", "were", "have"})
CLAUSE_WORDS = frozenset({
    "and", "or", "but", "while", "whilst", "as", "then", "when", "before", "after", "until",
})
SUBJECT_VERB_NEXT_TAGS = frozenset({"IN", "CC", "RB", "DT", "TO"})


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
        self.verb_forms: frozenset[str] = frozenset()  # ambiguous forms read as verbs; fit()
        self._tags: dict[str, Tagged] = {}
        self._bases: dict[str, str] = {}
        self._forms: dict[str, str | None] = {}
        self._cache: dict[str, tuple[tuple[str, str], ...]] = {}

    def base_form(self, verb: str) -> str:
        """A verb's base form (see the module docstring for the choice among candidates)."""
        found = self._bases.get(verb)
        if found is None:
            found = self._bases[verb] = self._base_form(verb)
        return found

    def _base_form(self, verb: str) -> str:
        lemma = self._lemmatizer.lemmatize(verb, "v")
        counts = self.word_counts
        if counts is None or lemma in counts:
            return lemma
        known = [c for c in self._lemmatizer._morphy(verb, "v") if c in counts]
        return min(known, key=lambda c: (-counts[c], len(c), c)) if known else verb

    def tagged(self, caption: str) -> Tagged:
        """(token, Penn tag) of a caption, normalised first (memoised)."""
        return self._tag(normalize(caption))

    def _tag(self, text: str) -> Tagged:
        found = self._tags.get(text)
        if found is None:
            found = self._tags[text] = tuple(nltk.pos_tag(nltk.word_tokenize(text)))
        return found

    def fit(self, captions: Iterable[str]) -> KeywordExtractor:
        """Decide, over some (training) captions, which ambiguous noun-tagged forms are verbs."""
        votes: Counter[tuple[str, str]] = Counter()  # (form, VERB | NOUN) -> context votes
        tags: Counter[tuple[str, str]] = Counter()  # (form, VERB | NOUN) -> tagger's readings
        for caption in captions:
            tagged = self.tagged(caption)
            for i, (token, tag) in enumerate(tagged):
                kind = NOUN if tag.startswith("NN") else VERB if tag.startswith("VB") else None
                if kind is None or self.verb_form_kind(token) != AMBIGUOUS:
                    continue
                tags[token, kind] += 1
                if kind == NOUN and token.endswith("s"):
                    cue = context_cue(tagged, i)
                    if cue is not None:
                        votes[token, cue[0]] += 1
        self.verb_forms = frozenset(
            form for form, kind in tags
            if kind == NOUN and _majority_verb(form, votes, tags)
        )
        self._cache.clear()
        return self

    def verb_form_kind(self, token: str) -> str | None:
        """``VERB`` for an "-s" or "-ing" verb form that WordNet has no noun for ("occurs",
        "chirping"), ``AMBIGUOUS`` if it has ("barks", "building"), else ``None`` (not an
        inflected verb form: "cars", "people"; nor a form of "be": "bees")."""
        if token not in self._forms:
            kind = None
            if token.endswith(("s", "ing")):
                base = self.base_form(token)
                if base != token and base not in ALWAYS_DROPPED:
                    noun = wordnet.morphy(token, wordnet.NOUN) is not None
                    kind = AMBIGUOUS if noun else VERB
            self._forms[token] = kind
        return self._forms[token]

    def noun_tag_is_verb(self, tagged: Sequence[tuple[str, str]], i: int) -> bool:
        """Whether noun-tagged token ``i`` is a verb form (module docstring)."""
        token = tagged[i][0]
        kind = self.verb_form_kind(token)
        if kind != AMBIGUOUS:
            return kind == VERB
        cue = context_cue(tagged, i) if token.endswith("s") else None
        if cue is not None and cue[1]:
            return cue[0] == VERB
        return token in self.verb_forms

    def candidates(self, caption: str) -> tuple[tuple[str, str], ...]:
        """(word, kind) of every kept noun and verb of a caption, in order, repeats included."""
        text = normalize(caption)
        found = self._cache.get(text)
        if found is None:
            found = tuple(self._process(self._tag(text)))
            self._cache[text] = found
        return found

    def _process(self, tagged: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str]]:
        for i, (token, tag) in enumerate(tagged):
            if tag.startswith("VB") or (tag.startswith("NN") and self.noun_tag_is_verb(tagged, i)):
                word, kind = self.base_form(token), VERB
            elif tag.startswith("NN"):
                word, kind = token, NOUN
            else:
                continue
            if len(word) >= self.min_length and word not in self.stopwords:
                yield word, kind

    def words(self, captions: Iterable[str]) -> set[str]:
        """Union of the keyword candidates of some captions (e.g. a clip's five)."""
        return {word for caption in captions for word, _ in self.candidates(caption)}


def _majority_verb(form: str, votes: Counter[tuple[str, str]],
                   tags: Counter[tuple[str, str]]) -> bool:
    """An ambiguous form's reading over the training captions (module docstring)."""
    tagger = (tags[form, VERB], tags[form, NOUN])
    if form.endswith("ing"):
        return tagger[0] >= tagger[1]
    return (votes[form, VERB], tagger[0]) > (votes[form, NOUN], tagger[1])


def context_cue(tagged: Sequence[tuple[str, str]], i: int) -> tuple[str, bool] | None:
    """(VERB or NOUN, decisive) where the neighbours of token ``i`` (an "-s" word) say which it
    is, first rule that applies; decisive cues are agreement in number, the others patterns."""
    before = tagged[i - 1] if i else None
    after = tagged[i + 1] if i + 1 < len(tagged) else None
    if after is not None and (after[1] in PLURAL_VERB_TAGS or after[0] in PLURAL_VERBS):
        return NOUN, True  # "chimes are ringing", "drops fall"
    if before is not None and before[0] in SINGULAR_SUBJECTS:
        return VERB, True  # "it hums", "a dog that barks"
    nouns = _noun_phrase_start(tagged, i, ("NN",))
    start = _noun_phrase_start(tagged, nouns, ("JJ",))
    if (nouns < i and start > 0 and tagged[start - 1][0] in SINGULAR_DETERMINERS
            and not any(word in QUANTITY_WORDS for word, _ in tagged[start:i])):
        return VERB, True  # "a dog barks", "a large car passes" (not "a dozen times")
    if before is None or (before[1] in NOUN_BEFORE_TAGS and before[0] != "that"):
        return NOUN, True  # "birds chirp", "the chimes", "loud beeps", "of bells"
    after2 = tagged[i + 2][1] if i + 2 < len(tagged) else ""
    if after is not None and (after[1] == "RP" or (
        after[1] == "RB" and after[0].endswith("ly") and not after2.startswith("VB")
    )):
        return VERB, False  # "passes by", "flows steadily" (not "birds faintly chirp")
    if i >= 2 and before[0] in ("and", "or") and tagged[i - 2][1] == "VBZ":
        return VERB, False  # "flows and splashes"
    if (nouns < i and (nouns == 0 or tagged[nouns - 1][0] in CLAUSE_WORDS)
            and (after is None or (after[1] in SUBJECT_VERB_NEXT_TAGS and after[0] != "of"))):
        return VERB, False  # a bare singular subject: "water splashes into a pool"
    return None


def _noun_phrase_start(tagged: Sequence[tuple[str, str]], i: int, tags: tuple[str, ...]) -> int:
    """Index of the first of the tokens right before ``i`` whose tags are all in ``tags``."""
    j = i
    while j > 0 and tagged[j - 1][1] in tags:
        j -= 1
    return j


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
        reader = csv.DictReader(io.StringIO(read_utf8(path, "keyword table", KeywordError),
                                            newline=""))
        try:
            if reader.fieldnames != CSV_COLUMNS:
                raise KeywordError(f"{path}: header {reader.fieldnames} is not {CSV_COLUMNS}")
            rows = [(int(r["rank"]), Keyword(r["word"], r["kind"], int(r["count"])))
                    for r in reader]
        except (TypeError, ValueError, csv.Error) as err:
            raise KeywordError(f"{path}: malformed row ({err}); rebuild the table") from err
        if [rank for rank, _ in rows] != list(range(1, len(rows) + 1)):
            raise KeywordError(f"{path}: ranks are not 1..{len(rows)} in order; rebuild the table")
        return cls(tuple(k for _, k in rows))


def extract_keywords(
    captions: Iterable[str], count: int, extractor: KeywordExtractor,
    source: str = "the training captions",
) -> KeywordTable:
    """The ``count`` most frequent keyword candidates of some (training) captions; an error
    naming ``source`` (the captions' file) if they hold none.

    The extractor is fitted to these captions first (``KeywordExtractor.fit``), so the labels it
    gives afterwards read verb forms as the table does."""
    captions = list(captions)
    extractor.fit(captions)
    totals: Counter[str] = Counter()
    kinds: Counter[tuple[str, str]] = Counter()
    for caption in captions:
        for word, kind in extractor.candidates(caption):
            totals[word] += 1
            kinds[word, kind] += 1
    ranked = sorted(totals.items(), key=lambda wc: (-wc[1], wc[0]))[:count]
    if not ranked:
        raise KeywordError(
            f"{source}: no keywords: no noun or verb of {extractor.min_length} letters or more "
            "outside the stopwords; lower the keywords' min_length or drop stopwords "
            "(text.keywords in the config)"
        )
    if len(ranked) < count:
        log.warning("only %d keyword candidates for %d requested keywords", len(ranked), count)
    return KeywordTable(tuple(
        Keyword(word, NOUN if kinds[word, NOUN] >= kinds[word, VERB] else VERB, n)
        for word, n in ranked
    ))
