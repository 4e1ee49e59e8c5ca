"""Caption metrics with aac-metrics 0.6.0: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE, SPIDEr.

Candidates and the original reference captions (not re-normalised) go to aac-metrics with its
PTB tokenisation (``preprocess=True``), using the Java tools :mod:`maac.evaluation.java_setup`
places and picks. When SPICE's jars are missing, SPICE and SPIDEr are ``None`` and
``unavailable`` says why, in words that the tables print as "n/a (...)": never a silent 0.
"""

from __future__ import annotations

import csv
import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.evaluation.java_setup import ensure_java_tools

log = logging.getLogger(__name__)

METRICS = {  # key in aac-metrics' output -> printed name
    "bleu_1": "BLEU-1", "bleu_2": "BLEU-2", "bleu_3": "BLEU-3", "bleu_4": "BLEU-4",
    "meteor": "METEOR", "rouge_l": "ROUGE-L", "cider_d": "CIDEr-D", "spice": "SPICE",
    "spider": "SPIDEr",
}
SPICE_METRICS = ("spice", "spider")
_BASE = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l")


class MetricsError(MaacError):
    """Predictions that do not match the references, or metric tools that fail."""


def _names(items: list[str], max_items: int = 10) -> str:
    shown = ", ".join(repr(x) for x in items[:max_items])
    more = f" and {len(items) - max_items} more" if len(items) > max_items else ""
    return shown + more


def check_predictions(predictions: dict[str, str], references: dict[str, list[str]]) -> None:
    """Refuse predictions missing clips, with extra clips or with empty captions (lists them)."""
    problems = []
    missing = sorted(set(references) - set(predictions))
    extra = sorted(set(predictions) - set(references))
    empty = sorted(name for name, caption in predictions.items() if not caption.strip())
    if missing:
        problems.append(f"{len(missing)} clip(s) of the references have no prediction: "
                        f"{_names(missing)}")
    if extra:
        problems.append(f"{len(extra)} predicted clip(s) are not in the references: "
                        f"{_names(extra)}")
    if empty:
        problems.append(f"{len(empty)} empty caption(s): {_names(empty)}")
    no_refs = sorted(name for name, refs in references.items() if not any(r.strip() for r in refs))
    if no_refs:
        problems.append(f"{len(no_refs)} clip(s) without references: {_names(no_refs)}")
    if problems:
        raise MetricsError("; ".join(problems) + "; caption every clip of the split "
                           "(maac decode) and evaluate against that split's captions")


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())  # the PTB tokenizer reads one sentence per line


BLEU_STATS = ("testlen", "reflen", *(f"{kind}_{k}" for k in range(1, 5)
                                      for kind in ("guess", "correct")))  # per-clip BLEU counts


@dataclass
class Scores:
    """Corpus scores (``corpus``, as :func:`evaluate` returns them) and one row per clip
    (``clips``: file_name, every metric with a sentence-level score, BLEU's counts)."""

    corpus: dict[str, Any]
    clips: list[dict[str, Any]]


def _bleu_counts(candidates: list[str], mult_refs: list[list[str]]) -> list[dict[str, int]]:
    """Per clip: hypothesis length, closest reference length, n-grams and clipped matches, as
    aac-metrics' corpus BLEU pools them (its own counting, on the same tokens)."""
    from aac_metrics.functional.bleu import _bleu_update

    cooked, _ = _bleu_update(candidates, mult_refs, 4, str.split, [], [])
    rows = []
    for comps in cooked:
        testlen = int(comps["testlen"])
        # "closest": the reference length nearest the hypothesis', the shorter on a tie
        reflen = min((abs(r - testlen), r) for r in comps["reflen"])[1]
        counts = [testlen, int(reflen), *(int(comps[kind][k]) for k in range(4)
                                          for kind in ("guess", "correct"))]
        rows.append(dict(zip(BLEU_STATS, counts, strict=True)))
    return rows


def score(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    *,
    cache_path: Path | str | None = None,
) -> Scores:
    """Corpus and per-clip scores of ``predictions`` (file name -> caption) against
    ``references`` (file name -> captions), as aac-metrics gives them (0-1; CIDEr-D on its
    0-10 scale), with its PTB tokenisation (one Java start for candidates and references).

    ``corpus`` is ``{"bleu_1": ..., "spice": float | None, "spider": float | None,
    "unavailable": {metric: reason}}`` (``unavailable`` is empty when every metric was
    computed). ``cache_path``: aac-metrics' cache root (default ``$AAC_METRICS_CACHE_PATH`` or
    ~/.cache).
    """
    check_predictions(predictions, references)
    tools = ensure_java_tools(cache_path)
    for action in tools.actions:
        log.info("%s", action)
    names = sorted(references)
    candidates = [_one_line(predictions[name]) for name in names]
    mult_refs = [[_one_line(r) for r in references[name] if r.strip()] for name in names]
    metrics = [*_BASE, "spider" if tools.spice_available else "cider_d"]

    import aac_metrics  # slow import (msclap, transformers): only here
    from aac_metrics.utils.tokenization import preprocess_mono_sents

    java = {"cache_path": str(tools.cache_path), "java_path": tools.java}
    try:
        flat = [r for refs in mult_refs for r in refs]
        tokens = preprocess_mono_sents(candidates + flat, **java)
        cands, pos = tokens[: len(candidates)], len(candidates)
        refs_tok = []
        for refs in mult_refs:
            refs_tok.append(tokens[pos : pos + len(refs)])
            pos += len(refs)
        corpus, sents = aac_metrics.evaluate(cands, refs_tok, preprocess=False,
                                             metrics=metrics, device="cpu", **java)
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as err:
        raise MetricsError(
            f"aac-metrics failed ({type(err).__name__}: {err}); run `maac metrics-setup` "
            f"(cache {tools.cache_path}, Java {tools.java})"
        ) from err
    result: dict[str, Any] = {key: None for key in METRICS}
    for key in METRICS:
        if key in corpus:
            result[key] = float(corpus[key])
    result["unavailable"] = {}
    if not tools.spice_available:
        result["unavailable"] = {key: tools.spice_reason for key in SPICE_METRICS}
    missing = [k for k in METRICS if result[k] is None and k not in result["unavailable"]]
    if missing:
        raise MetricsError(f"aac-metrics returned no {', '.join(missing)}")
    per_clip = {key: [float(v) for v in sents[key].tolist()] for key in METRICS if key in sents}
    counts = _bleu_counts(cands, refs_tok)
    clips = [{"file_name": name, **{key: values[i] for key, values in per_clip.items()},
              **{f"bleu_{k}": v for k, v in counts[i].items()}}
             for i, name in enumerate(names)]
    return Scores(result, clips)


def evaluate(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    *,
    cache_path: Path | str | None = None,
) -> dict[str, Any]:
    """The corpus scores of :func:`score`."""
    return score(predictions, references, cache_path=cache_path).corpus


def format_table(result: dict[str, Any]) -> str:
    """The metrics as a two-column text table; unavailable ones as 'n/a (reason)'."""
    width = max(len(name) for name in METRICS.values())
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 6}"]
    for key, name in METRICS.items():
        value = result.get(key)
        if value is None:
            reason = result.get("unavailable", {}).get(key, "not computed")
            text = f"n/a ({reason})"
        else:
            text = f"{value:.4f}"
        lines.append(f"{name:<{width}}  {text}")
    return "\n".join(lines)


def write_metrics(result: dict[str, Any], path: Path | str) -> None:
    """The metrics as JSON (atomically)."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def write_clip_scores(clips: list[dict[str, Any]], path: Path | str) -> None:
    """The per-clip table as CSV (atomically): file_name, the metrics, BLEU's counts."""
    columns = list(clips[0]) if clips else ["file_name"]
    with atomic_file(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in clips:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
