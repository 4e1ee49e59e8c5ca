"""The word vocabulary: special tokens with fixed ids, words from the training captions.

The special tokens and their ids are constants of this module and are written into
``vocab.json``; they never depend on insertion order (a bug of the authors' code). Words get
ids from 4 upwards, most frequent first, ties broken alphabetically, so the same captions always
give the same ids. ``vocab.json``::

    {"specials": {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3},
     "words": {"a": 4, "the": 5, ...}, "counts": {"a": 31270, ...}, "min_count": 1}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.text.normalize import words

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIALS: dict[str, int] = {PAD: PAD_ID, BOS: BOS_ID, EOS: EOS_ID, UNK: UNK_ID}


class VocabularyError(MaacError):
    """A vocabulary file that is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Vocabulary:
    """Word <-> id mapping; ``counts`` are the training-caption counts of the words."""

    word_to_id: dict[str, int]  # non-special words only, ids >= len(SPECIALS)
    counts: dict[str, int]
    min_count: int = 1

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1,
              source: str = "the captions") -> Vocabulary:
        """Vocabulary of the normalised words occurring at least ``min_count`` times; an error
        naming ``source`` (the captions' file) if that leaves no word."""
        if min_count < 1:
            raise VocabularyError(f"min_count must be at least 1, got {min_count}")
        captions = list(captions)
        counter = Counter(w for caption in captions for w in words(caption))
        kept = sorted(
            ((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0])
        )
        if not counter:
            raise VocabularyError(
                f"{source}: no words in its {len(captions)} captions (only punctuation, symbols "
                "or spaces); check that the caption columns hold the captions' text"
            )
        if not kept:
            raise VocabularyError(
                f"{source}: no word occurs {min_count} times or more ({len(counter)} distinct "
                "words); lower the vocabulary's min_count (--min-count)"
            )
        start = len(SPECIALS)
        return cls(
            word_to_id={w: start + i for i, (w, _) in enumerate(kept)},
            counts=dict(kept),
            min_count=min_count,
        )

    def __len__(self) -> int:
        """Size including the special tokens (the decoder's output size)."""
        return len(SPECIALS) + len(self.word_to_id)

    def __contains__(self, word: object) -> bool:
        return word in self.word_to_id

    @cached_property
    def id_to_word(self) -> list[str]:
        """Token of every id, specials included."""
        tokens = [""] * len(self)
        for token, i in (*SPECIALS.items(), *self.word_to_id.items()):
            tokens[i] = token
        return tokens

    def encode(self, caption: str) -> list[int]:
        """Ids of ``<bos>``, the caption's normalised words (``<unk>`` if unseen), ``<eos>``."""
        ids = [self.word_to_id.get(w, UNK_ID) for w in words(caption)]
        return [BOS_ID, *ids, EOS_ID]

    def decode(self, ids: Sequence[int]) -> str:
        """Words of a token sequence: stops at ``<eos>``, skips ``<bos>`` and ``<pad>``."""
        tokens = self.id_to_word
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i in (BOS_ID, PAD_ID):
                continue
            if not 0 <= i < len(tokens):
                raise VocabularyError(
                    f"token id {i} is outside the vocabulary (size {len(tokens)})"
                )
            out.append(tokens[i])
        return " ".join(out)

    def to_json(self) -> dict:
        return {
            "specials": dict(SPECIALS),
            "words": dict(self.word_to_id),
            "counts": dict(self.counts),
            "min_count": self.min_count,
        }

    def save(self, path: Path | str) -> None:
        """Write ``vocab.json`` (atomically)."""
        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n",
                           encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> Vocabulary:
        """Read ``vocab.json``, checking the special ids and that ids are contiguous."""
        path = Path(path)
        if not path.is_file():
            raise VocabularyError(f"{path}: vocabulary not found; run `maac text build` first")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise VocabularyError(f"{path}: not a vocabulary file ({err}); rebuild it") from err
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data: dict, source: str = "vocabulary") -> Vocabulary:
        """The vocabulary of :meth:`to_json`'s dict, checking the special ids and contiguity."""
        try:
            specials, word_to_id, counts = data["specials"], data["words"], data["counts"]
            min_count = int(data.get("min_count", 1))
        except (ValueError, KeyError, TypeError) as err:
            raise VocabularyError(f"{source}: not a vocabulary ({err}); rebuild it") from err
        if specials != SPECIALS:
            raise VocabularyError(
                f"{source}: special tokens {specials} differ from {SPECIALS}; rebuild the "
                "vocabulary"
            )
        expected = set(range(len(SPECIALS), len(SPECIALS) + len(word_to_id)))
        if set(word_to_id.values()) != expected or set(counts) != set(word_to_id):
            raise VocabularyError(
                f"{source}: word ids are not contiguous from {len(SPECIALS)} or counts do not "
                "match the words; rebuild the vocabulary"
            )
        return cls(word_to_id=dict(word_to_id), counts=dict(counts), min_count=min_count)
