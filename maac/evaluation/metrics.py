"""Caption metrics with aac-metrics 0.6.0: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE, SPIDEr,
and DCASE-2024's SPIDEr-FL, FENSE, SBERT-sim, FER and Vocab.

Candidates and the original reference captions (not re-normalised) go to aac-metrics with its
PTB tokenisation (``preprocess=True``), using the Java tools :mod:`maac.evaluation.java_setup`
places and picks and the models :mod:`maac.evaluation.metric_models` finds. Vocab needs
nothing. When SPICE's jars or a model are missing, the metrics that need them are ``None`` and
``unavailable`` says why (the tables print a footnote mark and the reason once): never a silent
0. ``provenance`` records the versions and the sha256 of every jar and model file used.
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
from maac.evaluation import metric_models as mm
from maac.evaluation.footnotes import Footnotes
from maac.evaluation.java_setup import (
    REQUIRED,
    SPICE_DIR,
    SPICE_LIB,
    JavaTools,
    ensure_java_tools,
    spice_installed,
)
from maac.evaluation.provenance import file_sha256, fingerprint, provenance

log = logging.getLogger(__name__)

METRICS = {  # key in aac-metrics' output -> printed name
    "bleu_1": "BLEU-1", "bleu_2": "BLEU-2", "bleu_3": "BLEU-3", "bleu_4": "BLEU-4",
    "meteor": "METEOR", "rouge_l": "ROUGE-L", "cider_d": "CIDEr-D", "spice": "SPICE",
    "spider": "SPIDEr", "spider_fl": "SPIDEr-FL", "fense": "FENSE", "sbert_sim": "SBERT-sim",
    "fer": "FER", "vocab": "Vocab",
}
SPICE_METRICS = ("spice", "spider")
COUNTS = ("vocab",)  # not on the 0-1 scale: printed as they are
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
    from aac_metrics.functional.vocab import vocab
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
        # Vocab counts the candidates' words only; given references, aac-metrics 0.6 also
        # computes a vocabulary F1 that divides by zero when no candidate word is in them
        corpus["vocab"] = vocab(cands, None)[0]["vocab.cands"]
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as err:
        raise MetricsError(
            f"aac-metrics failed ({type(err).__name__}: {err}); run `maac metrics-setup` "
            f"(cache {tools.cache_path}, Java {tools.java})"
        ) from err
    models = mm.metric_models(tools.cache_path)
    model_corpus, model_sents = _model_scores(cands, refs_tok, models, (corpus, sents)
                                              if tools.spice_available else None)
    corpus, sents = {**corpus, **model_corpus}, {**sents, **model_sents}
    result: dict[str, Any] = {key: None for key in METRICS}
    for key in METRICS:
        if key in corpus:
            result[key] = float(corpus[key])
    unavailable = {}
    if not tools.spice_available:
        unavailable = {key: tools.spice_reason for key in SPICE_METRICS}
    unavailable.update(models.unavailable(tools.spice_reason))
    result["unavailable"] = {key: unavailable[key] for key in METRICS if key in unavailable}
    missing = [k for k in METRICS if result[k] is None and k not in result["unavailable"]]
    if missing:
        raise MetricsError(f"aac-metrics returned no {', '.join(missing)}")
    result["provenance"] = _provenance(tools, models)
    per_clip = {key: [float(v) for v in sents[key].tolist()] for key in METRICS
                if key in sents and key not in COUNTS}
    counts = _bleu_counts(cands, refs_tok)
    clips = [{"file_name": name, **{key: values[i] for key, values in per_clip.items()},
              **{f"bleu_{k}": v for k, v in counts[i].items()}}
             for i, name in enumerate(names)]
    return Scores(result, clips)


def _model_scores(cands: list[str], refs: list[list[str]], models: mm.MetricModels,
                  spider: tuple[dict, dict] | None) -> tuple[dict, dict]:
    """SBERT-sim, FER, FENSE and SPIDEr-FL (given SPIDEr's outputs) with the models in place,
    by aac-metrics' own functions; ({}, {}) when none is."""
    if not (models.sbert_available or models.fluency_available):
        return {}, {}
    from aac_metrics.functional.fense import fense
    from aac_metrics.functional.fer import fer
    from aac_metrics.functional.sbert_sim import sbert_sim
    from aac_metrics.functional.spider_fl import _spider_fl_from_outputs

    corpus: dict[str, Any] = {}
    sents: dict[str, Any] = {}
    sbert = mm.load_sbert(models) if models.sbert_available else None
    checker, tokenizer = mm.load_echecker(models) if models.fluency_available else (None, None)
    try:
        if sbert is not None and checker is not None:
            outs = fense(cands, refs, sbert_model=sbert, echecker=checker,
                         echecker_tokenizer=tokenizer, error_threshold=mm.ERROR_THRESHOLD,
                         penalty=mm.FLUENCY_PENALTY, device="cpu")
        elif sbert is not None:
            outs = sbert_sim(cands, refs, sbert_model=sbert, device="cpu")
        else:
            outs = fer(cands, echecker=checker, echecker_tokenizer=tokenizer,
                       error_threshold=mm.ERROR_THRESHOLD, device="cpu")
        corpus.update(outs[0])
        sents.update(outs[1])
        if checker is not None and spider is not None:
            fer_outs = ({"fer": outs[0]["fer"]}, {"fer": outs[1]["fer"]})
            fl = _spider_fl_from_outputs(spider, fer_outs, mm.FLUENCY_PENALTY)
            corpus["spider_fl"], sents["spider_fl"] = fl[0]["spider_fl"], fl[1]["spider_fl"]
    except (OSError, RuntimeError, ValueError) as err:
        raise MetricsError(f"aac-metrics' model-based metrics failed ({type(err).__name__}: "
                           f"{err}); check the models under {models.root}") from err
    keys = ("sbert_sim", "fer", "fense", "spider_fl")
    return ({k: v for k, v in corpus.items() if k in keys},
            {k: v for k, v in sents.items() if k in keys})


def _provenance(tools: JavaTools, models: mm.MetricModels) -> dict[str, Any]:
    """The provenance record of one evaluation, with its fingerprint."""
    cache = tools.cache_path
    jars = [cache / tool.target for tool in REQUIRED]
    if tools.spice_available:
        spice = cache / SPICE_DIR
        jars += [spice / "spice-1.0.jar", *(spice / "lib" / name for name in SPICE_LIB)]
    files = models.files()
    settings: dict[str, Any] = {"tokenization": "PTB (aac-metrics preprocess)", "device": "cpu"}
    if models.sbert_available:
        settings["sbert_model"] = mm.SBERT_NAME
    if models.fluency_available:
        settings.update({"fluency_checker": mm.ECHECKER_NAME,
                         "fluency_checker_is_aac_metrics_release":
                             file_sha256(models.echecker) == mm.ECHECKER_SHA256,
                         "error_threshold": mm.ERROR_THRESHOLD,
                         "penalty": mm.FLUENCY_PENALTY})
    record = provenance(cache, tools.java_version, jars, files, settings)
    return {**record, "fingerprint": fingerprint(record)}


def corpus_spice(hyps: dict[str, list[str]], refs: dict[str, list[list[str]]]) -> float | None:
    """Corpus SPICE via aac-metrics when its Java tools are installed; None otherwise."""
    if not spice_installed():
        return None
    from aac_metrics.functional.spice import spice

    keys = list(hyps)
    corpus, _ = spice([" ".join(hyps[k]) for k in keys],
                      [[" ".join(r) for r in refs[k]] for k in keys])
    return float(corpus["spice"])


def evaluate(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    *,
    cache_path: Path | str | None = None,
) -> dict[str, Any]:
    """The corpus scores of :func:`score`."""
    return score(predictions, references, cache_path=cache_path).corpus


def format_value(key: str, value: float) -> str:
    return f"{value:.0f}" if key in COUNTS else f"{value:.4f}"


def format_table(result: dict[str, Any]) -> str:
    """The metrics as a two-column text table; unavailable ones as 'n/a' with a footnote mark,
    each reason written once below."""
    width = max(len(name) for name in METRICS.values())
    notes = Footnotes()
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 6}"]
    for key, name in METRICS.items():
        value = result.get(key)
        if value is None:
            reason = result.get("unavailable", {}).get(key, "not computed")
            text = notes.na(reason)
        else:
            text = format_value(key, value)
        lines.append(f"{name:<{width}}  {text}")
    return "\n".join([*lines, *notes.lines()])


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
