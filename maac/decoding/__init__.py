"""Decoding algorithms on the captioner's step API: greedy, sampling, batched beam search.

``model`` is anything with ``init(encoder_out) -> state`` and ``step(state, tokens (B,)) ->
(logits (B, V), state)`` whose state has ``index_select``; ``encoder_out`` has ``index_select``.
Every algorithm returns a :class:`Decoded`; :func:`to_text` turns it into captions.
"""

from maac.decoding.beam import beam_search
from maac.decoding.decoded import Decoded
from maac.decoding.greedy import greedy
from maac.decoding.reference_beam import beam_search_one, beam_search_reference
from maac.decoding.sampling import sample
from maac.decoding.text import to_text

__all__ = ["Decoded", "beam_search", "beam_search_one", "beam_search_reference", "greedy",
           "sample", "to_text"]
