"""Decoded token ids -> caption strings."""

from __future__ import annotations

from maac.decoding.decoded import Decoded
from maac.text.vocabulary import Vocabulary


def to_text(decoded: Decoded, vocab: Vocabulary) -> list[str]:
    """One caption per row: the words up to ``<eos>`` (specials dropped, ``<unk>`` kept)."""
    tokens = decoded.tokens.tolist()
    lengths = decoded.lengths.tolist()
    return [vocab.decode(row[:n]) for row, n in zip(tokens, lengths, strict=True)]
