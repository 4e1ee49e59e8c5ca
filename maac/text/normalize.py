"""Caption normalisation: the one function used by the vocabulary, the training targets and
keyword extraction (references given to the metrics are not re-normalised).

Rules, in order:
1. lower case (``str.lower``);
2. apostrophes (``'``, ``’``, ``‘``, ``ʼ``) are deleted, joining the parts of a word:
   ``dog's`` -> ``dogs``, ``don't`` -> ``dont``. A word therefore stays one token for the
   vocabulary and the decoder; Clotho v2.1's captions hold no apostrophes, so this choice only
   matters for other caption sources;
3. every other character that is neither a letter, a digit nor white space (punctuation,
   hyphens, underscores, symbols) becomes a space: ``t-shirt`` -> ``t shirt``, ``rain,then`` ->
   ``rain then``;
4. white space collapses to single spaces; word order is kept.

On Clotho v2.1 this gives 4366 words in the development split (4370 with the 4 special tokens;
the paper reports 4368), and every validation and evaluation word is among them.
"""

from __future__ import annotations

import re

_APOSTROPHES = re.compile(r"['\u2019\u2018\u02bc]")
_NOT_WORD = re.compile(r"[^\w\s]|_")


def normalize(caption: str) -> str:
    """Lower-cased caption without punctuation, words separated by single spaces."""
    text = _APOSTROPHES.sub("", caption.lower())
    return " ".join(_NOT_WORD.sub(" ", text).split())


def words(caption: str) -> list[str]:
    """The words of a normalised caption."""
    return normalize(caption).split()
