"""The decoder variants of the paper's Table 2 (ablation), declared as data (no torch import).

A variant names the semantic memories the decoder attends to besides the acoustic one
(``keywords``: the top keywords W^, ``words``: the previous words P^) and, when it has both,
whether one attention module serves both (``shared``, MAAC) or each has its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """A decoder variant: which memories, and one shared semantic attention module or two."""

    name: str
    keywords: bool  # attends to the top keywords (o_w)
    words: bool  # attends to the previous words (o_p)
    shared: bool = True  # with both memories: one semantic module for the two

    @property
    def separate_modules(self) -> bool:
        """Two semantic attention modules, one per memory."""
        return self.keywords and self.words and not self.shared

    @property
    def semantic(self) -> bool:
        """Any semantic memory at all (else acoustic attention only)."""
        return self.keywords or self.words


SPECS = {v.name: v for v in (
    Variant("base", keywords=False, words=False),  # acoustic attention only
    Variant("prev_words", keywords=False, words=True),
    Variant("keywords", keywords=True, words=False),
    Variant("both_unshared", keywords=True, words=True, shared=False),
    Variant("maac", keywords=True, words=True),  # both sources, one shared module
)}
VARIANTS = tuple(SPECS)  # the config's names, in Table 2's order
