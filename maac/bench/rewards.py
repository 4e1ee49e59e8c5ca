"""SCST rewards: our CIDEr-D scorer vs aac-metrics' ``cider_d`` called per batch.

A batch is 32 clips x 5 sampled captions. The training corpus here is those 32 clips (real
Clotho development captions when ../shared is present, the demo's synthetic captions
otherwise), so document frequencies from the training captions are also the batch's: the
values must then equal aac-metrics' to 1e-9. The baseline calls ``cider_d`` once per sample
round (32 candidates against their clips' references), which is what an SCST loop without its
own scorer does each step. Ours builds the reference vectors (:class:`CiderD`) and scores the
160 samples; the build is timed too although training does it once per stage.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maac.bench.timing import alternate, speed_result
from maac.errors import MaacError
from maac.paths import sample_captions_csv
from maac.text.normalize import normalize
from maac.training.cider import CiderD

CLOTHO_CAPTIONS = sample_captions_csv("development")


def reference_corpus(clips: int, seed: int) -> tuple[dict[str, list[list[str]]], str]:
    """``clips`` clips' 5 normalised references: real Clotho captions when present."""
    if CLOTHO_CAPTIONS.is_file():
        from maac.data.manifest import read_captions

        rows = read_captions(CLOTHO_CAPTIONS)
        pick = np.random.default_rng(seed).choice(len(rows), clips, replace=False)
        return ({rows[i][0]: [normalize(c).split() for c in rows[i][1]] for i in pick},
                str(CLOTHO_CAPTIONS))
    from maac.data.synth import make_clip

    return ({f"clip{i}.wav": [normalize(c).split() for c in
                              make_clip(seed, "development", i, 0.1).captions]
             for i in range(clips)}, "synthetic demo captions")


def samples(refs: dict[str, list[list[str]]], per_clip: int, seed: int
            ) -> tuple[list[str], list[list[str]]]:
    """Sample-like candidates: a reference with some words replaced, dropped or repeated."""
    rng = np.random.default_rng(seed)
    vocab = sorted({w for rs in refs.values() for r in rs for w in r})
    keys, hyps = [], []
    for key, rs in refs.items():
        for _ in range(per_clip):
            words = list(rs[rng.integers(len(rs))])
            for _ in range(rng.integers(0, 4)):
                i = int(rng.integers(len(words)))
                op = rng.integers(3)
                if op == 0:
                    words[i] = vocab[rng.integers(len(vocab))]
                elif op == 1 and len(words) > 1:
                    del words[i]
                else:
                    words.insert(i, words[i])
            keys.append(key)
            hyps.append(words)
    return keys, hyps


def run(clips: int, per_clip: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    from aac_metrics.functional import cider_d

    refs, source = reference_corpus(clips, seed)
    keys, hyps = samples(refs, per_clip, seed + 1)
    rounds = [list(range(j, len(keys), per_clip)) for j in range(per_clip)]

    def baseline() -> np.ndarray:
        out = np.zeros(len(keys))
        for rows in rounds:
            _, sents = cider_d([" ".join(hyps[i]) for i in rows],
                               [[" ".join(r) for r in refs[keys[i]]] for i in rows])
            out[rows] = sents["cider_d"].numpy()
        return out

    def ours() -> np.ndarray:
        return CiderD(refs, df_corpus=refs.values()).scores(keys, hyps)

    diff = float(np.abs(ours() - baseline()).max())
    if diff > 1e-9:
        raise MaacError(f"SCST rewards differ from aac-metrics' cider_d by {diff:.3g} (limit 1e-9)")
    return speed_result(
        f"SCST rewards, {clips} clips x {per_clip} samples",
        "aac-metrics cider_d, one call per sample round of the batch",
        "maac.training.cider.CiderD: reference vectors built, then every sample scored",
        "captions/s", len(keys), alternate(baseline, ours, repeats), 5.0,
        f"equal rewards (max |diff| {diff:.1e}, limit 1e-9)", captions=source, repeats=repeats)
