"""The per-clip score tables (``scores_{phase}_{split}.csv``) and the corpus metric each one
gives under bootstrap resampling (:mod:`maac.stats.clip_metrics`).

Which metric is resampled how (docs/statistics.md says why):
- BLEU-1..4: recomputed from the per-clip n-gram counts and lengths on every resample (exact);
- CIDEr-D, ROUGE-L, SPICE, SPIDEr, SPIDEr-FL, FENSE, SBERT-sim, FER: the mean of the per-clip
  scores (that is their corpus score;
  CIDEr-D's document frequencies stay those of the whole test set);
- METEOR: its corpus score moved by the change of the per-clip mean (the Java tool pools
  statistics over the corpus; rerunning it thousands of times is not affordable).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from maac.errors import MaacError
from maac.evaluation.metrics import BLEU_STATS
from maac.stats.clip_metrics import ClipMetric, CorpusBleu, PerClipMean

BLEU = ("bleu_1", "bleu_2", "bleu_3", "bleu_4")
MEAN = ("rouge_l", "cider_d", "spice", "spider", "spider_fl", "fense", "sbert_sim", "fer")
SHIFTED_MEAN = ("meteor",)
METHOD = {
    **{key: "recomputed from per-clip n-gram counts" for key in BLEU},
    **{key: "mean of per-clip scores" for key in MEAN},
    "meteor": "corpus score moved by the resampled mean of per-clip scores",
}
RESAMPLED = (*BLEU, *SHIFTED_MEAN, *MEAN)  # Vocab, a corpus count, has no resampling rule


def read_clip_scores(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a per-clip table: file_name as written, every other column a number."""
    path = Path(path)
    if not path.is_file():
        raise MaacError(f"{path}: per-clip scores not found; run the evaluate step first")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or reader.fieldnames[0] != "file_name":
            raise MaacError(f"{path}: not a per-clip score table (expected a file_name column "
                            "first); rerun `maac evaluate --scores`")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                rows.append({k: v if k == "file_name" else float(v) for k, v in row.items()})
            except (TypeError, ValueError) as err:
                raise MaacError(f"{path}, line {line}: not a number ({err}); rerun "
                                "`maac evaluate --scores`") from err
    return rows


def clip_metric(key: str, corpus: dict[str, Any], rows: list[dict[str, Any]]) -> ClipMetric:
    """The corpus metric ``key`` of one evaluation as a function of clip weights."""
    if key in BLEU:
        def column(name: str) -> np.ndarray:
            return np.array([row[f"bleu_{name}"] for row in rows], dtype=np.float64)

        missing = [c for c in BLEU_STATS if f"bleu_{c}" not in rows[0]]
        if missing:
            raise MaacError(f"per-clip table lacks BLEU's counts ({', '.join(missing)}); "
                            "rerun `maac evaluate --scores`")
        return CorpusBleu(int(key[-1]), column("testlen"), column("reflen"),
                          np.stack([column(f"guess_{k}") for k in range(1, 5)], axis=1),
                          np.stack([column(f"correct_{k}") for k in range(1, 5)], axis=1))
    if key in MEAN or key in SHIFTED_MEAN:
        if corpus.get(key) is None or key not in rows[0]:
            raise MaacError(f"no per-clip {key} scores (unavailable: "
                            f"{corpus.get('unavailable', {}).get(key, 'not computed')})")
        return PerClipMean(float(corpus[key]), np.array([row[key] for row in rows]))
    raise MaacError(f"no resampling rule for metric {key!r}")


def clip_metrics(corpus: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, ClipMetric]:
    """Every available metric of one evaluation (unavailable ones left out)."""
    keys = RESAMPLED
    return {key: clip_metric(key, corpus, rows) for key in keys
            if corpus.get(key) is not None}
