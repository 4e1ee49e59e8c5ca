"""Synthesised sound events for the demo dataset.

Each event type is a small signal generator (numpy only) plus the words a person would use for
it, so captions can name what is audible. Every generator takes a seeded ``numpy`` generator and
returns float32 audio in [-1, 1] of the requested length; same seed, same samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

Rng = np.random.Generator


def _t(n: int, sr: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / sr


def _onepole_lowpass(x: np.ndarray, cutoff: float, sr: int) -> np.ndarray:
    """First-order low-pass filter y[n] = (1 - a) x[n] + a y[n-1]."""
    a = float(np.exp(-2.0 * np.pi * cutoff / sr))
    return lfilter([1.0 - a], [1.0, -a], x)


def _strikes(n: int, sr: int, times: np.ndarray, make: Callable[[int], np.ndarray]) -> np.ndarray:
    """Place short sounds (``make(length)``) at the given onset times (seconds)."""
    out = np.zeros(n)
    for onset in times:
        start = int(onset * sr)
        if start >= n:
            continue
        piece = make(n - start)
        out[start : start + len(piece)] += piece
    return out


def bell(n: int, sr: int, rng: Rng) -> np.ndarray:
    f0 = rng.uniform(400, 900)
    partials = [(1.0, 1.0), (2.76, 0.5), (5.40, 0.3), (8.93, 0.15)]
    decay = rng.uniform(1.5, 3.0)

    def strike(room: int) -> np.ndarray:
        m = min(room, int(sr * 2.5))
        t = _t(m, sr)
        tone = sum(a * np.sin(2 * np.pi * f0 * r * t) for r, a in partials)
        return tone * np.exp(-decay * t)

    period = rng.uniform(0.8, 1.6)
    return _strikes(n, sr, np.arange(0, n / sr, period), strike)


def siren(n: int, sr: int, rng: Rng) -> np.ndarray:
    t = _t(n, sr)
    rate = rng.uniform(0.3, 0.8)
    freq = 850 + 300 * np.sin(2 * np.pi * rate * t)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return np.sin(phase) + 0.3 * np.sin(2 * phase)


def rain(n: int, sr: int, rng: Rng) -> np.ndarray:
    hiss = _onepole_lowpass(rng.standard_normal(n), rng.uniform(2500, 5000), sr) * 0.6
    drops = np.zeros(n)
    count = int(n / sr * rng.uniform(40, 90))
    drops[rng.integers(0, n, count)] = rng.uniform(0.5, 1.5, count)
    t = _t(int(0.004 * sr), sr)
    ring = np.exp(-t * 900) * np.sin(2 * np.pi * 3000 * t)
    return hiss + np.convolve(drops, ring)[:n]


def wind(n: int, sr: int, rng: Rng) -> np.ndarray:
    noise = _onepole_lowpass(rng.standard_normal(n), rng.uniform(300, 700), sr)
    t = _t(n, sr)
    gust = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6.28))
    return noise * gust


def engine(n: int, sr: int, rng: Rng) -> np.ndarray:
    t = _t(n, sr)
    f0 = rng.uniform(45, 110)
    wobble = 1 + 0.01 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * f0 * np.cumsum(wobble) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    return tone + 0.2 * _onepole_lowpass(rng.standard_normal(n), 400, sr)


def birds(n: int, sr: int, rng: Rng) -> np.ndarray:
    def chirp(room: int) -> np.ndarray:
        m = min(room, int(sr * rng.uniform(0.05, 0.12)))
        t = _t(m, sr)
        f = rng.uniform(2500, 3500) + rng.uniform(1500, 3000) * t / max(t[-1], 1e-9)
        return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.hanning(m)

    onsets = np.cumsum(rng.uniform(0.08, 0.5, int(n / sr * 6) + 1))
    return _strikes(n, sr, onsets, chirp)


def clock(n: int, sr: int, rng: Rng) -> np.ndarray:
    def tick(room: int) -> np.ndarray:
        m = min(room, int(0.01 * sr))
        t = _t(m, sr)
        return np.sin(2 * np.pi * 2200 * t) * np.exp(-t * 700)

    period = rng.uniform(0.45, 0.55)
    return _strikes(n, sr, np.arange(0, n / sr, period), tick)


def footsteps(n: int, sr: int, rng: Rng) -> np.ndarray:
    def step(room: int) -> np.ndarray:
        m = min(room, int(0.12 * sr))
        t = _t(m, sr)
        thud = np.sin(2 * np.pi * 90 * t) * np.exp(-t * 40)
        scuff = rng.standard_normal(m) * np.exp(-t * 60) * 0.4
        return thud + scuff

    period = rng.uniform(0.45, 0.7)
    return _strikes(n, sr, np.arange(0.1, n / sr, period), step)


def knocking(n: int, sr: int, rng: Rng) -> np.ndarray:
    def knock(room: int) -> np.ndarray:
        m = min(room, int(0.06 * sr))
        t = _t(m, sr)
        return np.sin(2 * np.pi * 380 * t) * np.exp(-t * 90) + 0.3 * rng.standard_normal(
            m
        ) * np.exp(-t * 300)

    onsets: list[float] = []
    start = 0.2
    while start < n / sr:
        onsets.extend(start + 0.18 * k for k in range(int(rng.integers(2, 5))))
        start += rng.uniform(1.5, 2.5)
    return _strikes(n, sr, np.asarray(onsets), knock)


def dripping(n: int, sr: int, rng: Rng) -> np.ndarray:
    def drip(room: int) -> np.ndarray:
        m = min(room, int(0.08 * sr))
        t = _t(m, sr)
        f = 900 + 1800 * t / max(t[-1], 1e-9)
        return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t * 50)

    onsets = np.cumsum(rng.uniform(0.3, 0.9, int(n / sr * 3) + 1))
    return _strikes(n, sr, onsets, drip)


def alarm(n: int, sr: int, rng: Rng) -> np.ndarray:
    t = _t(n, sr)
    f = rng.uniform(1800, 2600)
    gate = (np.sin(2 * np.pi * rng.uniform(2, 4) * t) > 0).astype(np.float64)
    return np.sign(np.sin(2 * np.pi * f * t)) * gate * 0.6


def thunder(n: int, sr: int, rng: Rng) -> np.ndarray:
    rumble = _onepole_lowpass(rng.standard_normal(n), 120, sr)
    t = _t(n, sr)
    claps = np.zeros(n)
    for onset in rng.uniform(0, max(n / sr - 1, 0.1), 2):
        claps += np.exp(-np.clip(t - onset, 0, None) * 1.5) * (t >= onset)
    return rumble * (0.3 + claps)


@dataclass(frozen=True)
class SoundType:
    """A synthesisable event and the words captions use for it."""

    name: str
    make: Callable[[int, int, Rng], np.ndarray]
    nouns: tuple[str, ...]  # singular noun phrases ("a church bell")
    verbs: tuple[str, ...]  # third-person singular verb phrases ("rings")
    gerunds: tuple[str, ...]  # noun phrases usable after "followed by" ("the ringing of a bell")


SOUND_TYPES: tuple[SoundType, ...] = (
    SoundType("bell", bell, ("a bell", "a church bell", "a small bell", "a metal bell"),
              ("rings", "is ringing", "chimes", "tolls"),
              ("the ringing of a bell", "a bell chiming", "bell chimes")),
    SoundType("siren", siren,
              ("a siren", "an emergency siren", "a police siren", "an ambulance siren"),
              ("wails", "is wailing", "sounds", "blares"),
              ("a wailing siren", "the sound of a siren", "a siren blaring")),
    SoundType("rain", rain, ("rain", "heavy rain", "light rain", "the rain"),
              ("falls", "is falling", "pours down", "patters"),
              ("falling rain", "the sound of rain", "rain pouring down")),
    SoundType("wind", wind, ("the wind", "a strong wind", "a gentle breeze", "the breeze"),
              ("blows", "is blowing", "howls", "gusts"),
              ("wind blowing", "the howling of the wind", "gusts of wind")),
    SoundType("engine", engine, ("an engine", "a motor", "a machine", "a car engine"),
              ("hums", "is humming", "idles", "rumbles"),
              ("the hum of an engine", "a motor humming", "an idling engine")),
    SoundType("birds", birds, ("a bird", "a small bird", "a songbird", "a little bird"),
              ("chirps", "is chirping", "sings", "tweets"),
              ("birds chirping", "the chirping of birds", "bird song")),
    SoundType("clock", clock, ("a clock", "a wall clock", "an old clock", "a ticking clock"),
              ("ticks", "is ticking", "ticks steadily", "keeps ticking"),
              ("the ticking of a clock", "a clock ticking", "steady clock ticks")),
    SoundType("footsteps", footsteps, ("a person", "someone", "a man", "a woman"),
              ("walks", "is walking", "takes slow steps", "walks across the floor"),
              ("footsteps", "the sound of footsteps", "someone walking")),
    SoundType("knocking", knocking, ("someone", "a person", "a visitor", "somebody"),
              ("knocks on a door", "is knocking on a door", "raps on the door", "knocks loudly"),
              ("knocking on a door", "a knock at the door", "loud knocking")),
    SoundType("dripping", dripping, ("water", "a tap", "a leaky faucet", "a pipe"),
              ("drips", "is dripping", "drips slowly", "leaks drop by drop"),
              ("dripping water", "the drip of a tap", "water drops")),
    SoundType("alarm", alarm,
              ("an alarm", "an alarm clock", "a smoke alarm", "an electronic alarm"),
              ("beeps", "is beeping", "goes off", "beeps repeatedly"),
              ("a beeping alarm", "the beeping of an alarm", "alarm beeps")),
    SoundType("thunder", thunder, ("thunder", "distant thunder", "loud thunder", "a storm"),
              ("rumbles", "is rumbling", "roars", "crashes"),
              ("rumbling thunder", "the crash of thunder", "a thunderstorm")),
)
