"""Captions for synthetic clips: varied phrasings of which events sound, and in what order.

A clip is described as a sequence of segments; each segment is one event or two events heard
together. Captions name every event (with synonyms) and the temporal relation between them
(``while`` for overlap; ``then`` / ``followed by`` / ``after`` for succession).
"""

from __future__ import annotations

import numpy as np

from maac.data.sounds import SoundType

Segment = tuple[SoundType, ...]

MIN_WORDS, MAX_WORDS = 8, 20

_FILLERS = (
    "in the background",
    "in a quiet room",
    "for a few seconds",
    "quite loudly",
    "close to the microphone",
    "somewhere in the distance",
    "over and over again",
    "for the whole recording",
)


def _form(rng: np.random.Generator, n: int) -> int:
    """One of ``n`` phrasings, the i-th with probability proportional to 1/(i+1).

    People favour a few phrasings (Zipf's law), so a clip's captions share a most common one.
    With uniform choices, phrasings tie in probability, and a model's greedy caption can flip
    between them after a small change of its weights.
    """
    weights = 1.0 / np.arange(1, n + 1)
    return int(rng.choice(n, p=weights / weights.sum()))


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[_form(rng, len(options))]


def _clause(seg: Segment, rng: np.random.Generator) -> str:
    """A full clause ('a bell rings while rain falls') for one segment."""
    a = f"{_pick(rng, seg[0].nouns)} {_pick(rng, seg[0].verbs)}"
    if len(seg) == 1:
        return a
    b = f"{_pick(rng, seg[1].nouns)} {_pick(rng, seg[1].verbs)}"
    form = _form(rng, 3)
    if form == 0:
        return f"{a} while {b}"
    if form == 1:
        return f"{a} as {b} at the same time"
    return f"while {b}, {a}"


def _nominal(seg: Segment, rng: np.random.Generator) -> str:
    """A noun phrase ('the ringing of a bell and falling rain') for one segment."""
    a = _pick(rng, seg[0].gerunds)
    if len(seg) == 1:
        return a
    joiner = _pick(rng, ("and", "together with", "along with"))
    return f"{a} {joiner} {_pick(rng, seg[1].gerunds)}"


def _one_segment(segs: list[Segment], rng: np.random.Generator) -> str:
    seg = segs[0]
    form = _form(rng, 4)
    if form == 0:
        return f"{_clause(seg, rng)} {_pick(rng, _FILLERS)}"
    if form == 1:
        return f"{_nominal(seg, rng)} can be heard {_pick(rng, _FILLERS)}"
    if form == 2:
        return f"you can hear {_nominal(seg, rng)} {_pick(rng, _FILLERS)}"
    return f"in this recording {_clause(seg, rng)}"


def _two_segments(segs: list[Segment], rng: np.random.Generator) -> str:
    first, second = segs
    form = _form(rng, 6)
    if form == 0:
        return f"{_clause(first, rng)}, then {_clause(second, rng)}"
    if form == 1:
        return f"first {_clause(first, rng)} and then {_clause(second, rng)}"
    if form == 2:
        return f"{_clause(first, rng)} for a while, followed by {_nominal(second, rng)}"
    if form == 3:
        return f"{_nominal(first, rng)} is followed by {_nominal(second, rng)}"
    if form == 4:
        return f"after {_nominal(first, rng)} stops, {_clause(second, rng)}"
    return f"{_nominal(first, rng)} comes first, and then {_clause(second, rng)}"


def _three_segments(segs: list[Segment], rng: np.random.Generator) -> str:
    a, b, c = segs
    form = _form(rng, 3)
    if form == 0:
        return f"{_clause(a, rng)}, then {_clause(b, rng)}, followed by {_nominal(c, rng)}"
    if form == 1:
        return f"first {_clause(a, rng)}, then {_clause(b, rng)} and finally {_clause(c, rng)}"
    return f"{_nominal(a, rng)} is followed by {_nominal(b, rng)} and then {_nominal(c, rng)}"


_BY_SEGMENTS = {1: _one_segment, 2: _two_segments, 3: _three_segments}


def _finish(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    while len(words) < MIN_WORDS:
        words += _pick(rng, _FILLERS).split()
    sentence = " ".join(words)
    sentence = sentence[0].upper() + sentence[1:]
    return sentence + ("." if rng.random() < 0.7 else "")


def describe(segments: list[Segment], rng: np.random.Generator, count: int = 5) -> list[str]:
    """``count`` different captions of MIN_WORDS-MAX_WORDS words for a clip's segments."""
    captions: list[str] = []
    for _ in range(500):
        caption = _finish(_BY_SEGMENTS[len(segments)](segments, rng), rng)
        if len(caption.split()) <= MAX_WORDS and caption.rstrip(".") not in {
            c.rstrip(".") for c in captions
        }:
            captions.append(caption)
            if len(captions) == count:
                return captions
    raise RuntimeError(f"could not phrase {count} distinct captions for {segments}")
