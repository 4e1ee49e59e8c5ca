"""The paper's tables from our evaluations, with intervals, paired comparisons and verdicts.

Table 1: our full model after CE and after RL; Table 2: the CE stage of each ablation variant.
Every cell is the mean over seeds of the corpus score (x100) with its 95% bootstrap interval
over the test clips and the seeds (:mod:`maac.stats.bootstrap`). Comparisons: RL vs CE (Table
1); each variant vs Base and MAAC vs each other variant (Table 2), on every metric of the
table, paired by clip and seed, with Holm's correction over all comparisons of one table. The
paper's values stand beside ours only on Clotho (each marked inside, above or below our
interval); on another dataset one line says they are not comparable. A metric that could not
be computed (SPICE without its Java jars, a DCASE-2024 metric without its model) is written as
"n/a" with a footnote mark, its reason stated once below the table, never as 0. Vocab (distinct
words of the captions) is a count with no per-clip decomposition: mean over seeds, no interval.
Comparisons between evaluations whose metric provenance differs are not made.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.evaluation.clip_scores import METHOD, RESAMPLED, clip_metric
from maac.evaluation.footnotes import Footnotes
from maac.evaluation.paper import TABLE1, TABLE2, VARIANT_NAMES
from maac.stats import bootstrap
from maac.stats.bootstrap import Interval, Resamples

TABLE1_COLUMNS = [("bleu_1", "B1"), ("bleu_4", "B4"), ("rouge_l", "ROUGE-L"),
                  ("meteor", "METEOR"), ("cider_d", "CIDEr-D"), ("spice", "SPICE"),
                  ("spider", "SPIDEr")]
DCASE2024_COLUMNS = [("spider_fl", "SPIDEr-FL"), ("fense", "FENSE"), ("sbert_sim", "SBERT-sim"),
                     ("fer", "FER"), ("vocab", "Vocab")]
TABLE1_COLUMNS += DCASE2024_COLUMNS
TABLE2_COLUMNS = [("bleu_4", "B4"), ("cider_d", "CIDEr-D"), ("spider", "SPIDEr"),
                  *DCASE2024_COLUMNS]
COUNTS = ("vocab",)  # shown as they are (not x100), without an interval
PHASE_NAMES = {"ce": "cross-entropy", "rl": "CIDEr-D optimised (RL)"}
SHORT_NAMES = {"base": "Base", "prev_words": "+ prev. words", "keywords": "+ keywords",
               "both_unshared": "+ both, unshared", "maac": "MAAC"}


def read_metrics(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MaacError(f"{path}: metrics file not found; run the evaluate step first")
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class Evaluation:
    """One trained model's test-split evaluation: corpus scores and the per-clip table."""

    seed: int
    corpus: dict[str, Any]
    clips: list[dict[str, Any]]
    run_id: str | None = None


@dataclass(frozen=True)
class Settings:
    resamples: int = bootstrap.RESAMPLES
    seed: int = bootstrap.SEED
    level: float = bootstrap.LEVEL
    alpha: float = bootstrap.ALPHA


class Resampler:
    """The seeded resamples of one table's clips, one draw per number of seeds."""

    def __init__(self, clips: list[str], settings: Settings) -> None:
        self.clips, self.settings = clips, settings
        self._draws: dict[int, Resamples] = {}

    def draws(self, seeds: int) -> Resamples:
        if seeds not in self._draws:
            self._draws[seeds] = bootstrap.draw(len(self.clips), seeds,
                                                self.settings.resamples, self.settings.seed)
        return self._draws[seeds]


def resampler(systems: list[list[Evaluation]], settings: Settings) -> Resampler:
    """A resampler over the clips every evaluation shares (refused when they differ)."""
    evaluations = [e for system in systems for e in system]
    if not evaluations:
        raise MaacError("no evaluation to tabulate; run the evaluate steps first")
    clips = [row["file_name"] for row in evaluations[0].clips]
    for e in evaluations[1:]:
        if [row["file_name"] for row in e.clips] != clips:
            raise MaacError(f"seed {e.seed}'s per-clip table has other clips than seed "
                            f"{evaluations[0].seed}'s; evaluate every model on the same split")
    return Resampler(clips, settings)


OLD_JSON_REASON = "not in the metrics JSON (an older maac evaluate): rerun maac evaluate"


def _unavailable(system: list[Evaluation], key: str) -> str | None:
    for e in system:
        if key not in e.corpus:
            return OLD_JSON_REASON
        if e.corpus[key] is None:
            return e.corpus.get("unavailable", {}).get(key) or "not computed"
    return None


@dataclass
class Cell:
    """A table cell: an interval (x100), a count (mean over seeds), or a text saying why there
    is none (``reason``: why it is n/a, for the footnote)."""

    interval: Interval | None = None
    text: str = ""
    reason: str | None = None
    value: float | None = None

    def __str__(self) -> str:
        if self.value is not None:
            return f"{self.value:.1f}" if self.value % 1 else f"{self.value:.0f}"
        if self.interval is None:
            return self.text
        i = self.interval
        return f"{100 * i.mean:.1f} [{100 * i.low:.1f}, {100 * i.high:.1f}]"

    def markdown(self, notes: Footnotes) -> str:
        """The cell, an n/a one as "n/a" with its footnote mark."""
        return notes.na(self.reason) if self.reason is not None else str(self)


def cell(system: list[Evaluation], key: str, sampler: Resampler) -> Cell:
    if not system:
        return Cell(text="not run")
    reason = _unavailable(system, key)
    if reason is not None:
        return Cell(text=f"n/a ({reason})", reason=reason)
    if key in COUNTS:
        return Cell(value=sum(float(e.corpus[key]) for e in system) / len(system))
    metrics = [clip_metric(key, e.corpus, e.clips) for e in system]
    return Cell(bootstrap.interval(metrics, sampler.draws(len(system)), sampler.settings.level))


def paper_mark(value: float, ours: Cell) -> str:
    """The paper's value (x100) marked against our interval."""
    if ours.interval is None:
        return f"{value:.1f}"
    low, high = 100 * ours.interval.low, 100 * ours.interval.high
    where = "inside" if low <= value <= high else ("above" if value > high else "below")
    return f"{value:.1f} ({where} our CI)"


@dataclass
class Row:
    model: str
    cells: dict[str, Cell]
    paper: dict[str, str]  # key -> the paper's value with its mark (Clotho only)
    paper_values: dict[str, float]
    seeds: int
    clips: int
    runs: str


def _runs(system: list[Evaluation]) -> str:
    return " ".join(str(e.run_id or "-") for e in system)


def table1(results: dict[str, list[Evaluation]], sampler: Resampler, comparable: bool,
           variant: str = "maac") -> list[Row]:
    """Our main variant after each phase; on Clotho, the paper's value beside every cell."""
    rows = []
    for phase, system in results.items():
        if not system:
            continue
        cells = {key: cell(system, key, sampler) for key, _ in TABLE1_COLUMNS}
        paper = ({key: paper_mark(TABLE1[phase][key], cells[key]) for key, _ in TABLE1_COLUMNS
                  if key in TABLE1[phase]} if comparable else {})
        values = dict(TABLE1[phase]) if comparable else {}
        rows.append(Row(f"{VARIANT_NAMES[variant]}, {PHASE_NAMES[phase]}", cells, paper,
                        values, len(system), len(sampler.clips), _runs(system)))
    return rows


def table2(results: dict[str, list[Evaluation]], sampler: Resampler,
           comparable: bool) -> list[Row]:
    """Every variant of the paper's Table 2 (CE stage); "not run" where the config has none."""
    rows = []
    for variant, numbers in TABLE2.items():
        system = results.get(variant, [])
        cells = {key: cell(system, key, sampler) for key, _ in TABLE2_COLUMNS}
        paper = {}
        if comparable:
            paper = {key: paper_mark(numbers[key], cells[key]) if numbers else
                     "did not converge" for key, _ in TABLE2_COLUMNS
                     if key in next(n for n in TABLE2.values() if n)}
        values = dict(numbers) if comparable and numbers else {}
        rows.append(Row(f"{VARIANT_NAMES[variant]}, {PHASE_NAMES['ce']}", cells, paper, values,
                        len(system), len(sampler.clips) if system else 0, _runs(system)))
    return rows


@dataclass
class Comparison:
    name: str  # "MAAC vs Base"
    key: str
    seeds: int
    clips: int
    difference: bootstrap.Difference | None = None
    p_holm: float | None = None
    verdict: str = ""
    reason: str | None = None  # why it was not tested (n/a), for the footnote


PROVENANCE_REASON = ("the metrics were computed differently (provenance fingerprints differ): "
                     "re-evaluate both with the same aac-metrics, Java, jars and models")


def _provenance_differs(a: list[Evaluation], b: list[Evaluation]) -> bool:
    prints = {e.corpus.get("provenance", {}).get("fingerprint") for e in [*a, *b]}
    prints.discard(None)
    return len(prints) > 1


def _paired(a: list[Evaluation], b: list[Evaluation]) -> tuple[list, list]:
    common = sorted({e.seed for e in a} & {e.seed for e in b})
    by_a, by_b = {e.seed: e for e in a}, {e.seed: e for e in b}
    return [by_a[s] for s in common], [by_b[s] for s in common]


def compare_all(pairs: list[tuple[str, list[Evaluation], list[Evaluation]]],
                keys: list[str], sampler: Resampler) -> list[Comparison]:
    """Every pair on every resampled metric (Vocab, a count, is left out), then Holm's
    correction over those that could be tested."""
    out = []
    for name, a, b in pairs:
        a, b = _paired(a, b)
        for key in (k for k in keys if k in RESAMPLED):
            comp = Comparison(name, key, len(a), len(sampler.clips))
            reason = (_unavailable(a, key) or _unavailable(b, key)) if a else "no common seed"
            if reason is None and _provenance_differs(a, b):
                reason = PROVENANCE_REASON
            if reason is not None:
                comp.verdict, comp.reason = f"n/a ({reason})", reason
            else:
                comp.difference = bootstrap.compare(
                    [clip_metric(key, e.corpus, e.clips) for e in a],
                    [clip_metric(key, e.corpus, e.clips) for e in b],
                    sampler.draws(len(a)), sampler.settings.level)
            out.append(comp)
    tested = [c for c in out if c.difference is not None]
    for comp, p in zip(tested, bootstrap.holm([c.difference.p for c in tested]), strict=True):
        comp.p_holm = p
        comp.verdict = bootstrap.verdict(comp.difference.difference, p, sampler.settings.alpha)
    return out


def table1_pairs(results: dict[str, list[Evaluation]], variant: str) -> list[tuple]:
    name = SHORT_NAMES[variant]
    if results.get("ce") and results.get("rl"):
        return [(f"{name}: RL vs CE", results["rl"], results["ce"])]
    return []


def table2_pairs(results: dict[str, list[Evaluation]]) -> list[tuple]:
    """Each variant vs Base, then MAAC vs each other variant (no pair twice)."""
    run = [v for v in TABLE2 if results.get(v)]
    pairs = [(v, "base") for v in run if v != "base" and "base" in run]
    pairs += [("maac", v) for v in run if v not in ("maac", "base") and "maac" in run]
    return [(f"{SHORT_NAMES[a]} vs {SHORT_NAMES[b]}", results[a], results[b]) for a, b in pairs]


def notes(sampler: Resampler, seeds: int, comparable: bool, dataset: str,
          tests: int) -> list[str]:
    s = sampler.settings
    over = (f"the {len(sampler.clips)} test clips and the {seeds} training seeds, resampled "
            "together" if seeds > 1 else f"the {len(sampler.clips)} test clips (one training "
            "seed: the interval holds test-set noise, not training noise)")
    lines = [
        f"Cells: mean over seeds of the corpus score x100 [{100 * s.level:.0f}% bootstrap "
        f"interval over {over}; {s.resamples} resamples, seed {s.seed}].",
        "Resampling: BLEU " + METHOD["bleu_4"] + "; CIDEr-D, ROUGE-L, SPICE, SPIDEr, SPIDEr-FL, "
        "FENSE, SBERT-sim, FER: " + METHOD["cider_d"] + "; METEOR: " + METHOD["meteor"]
        + " (the Java tool is not rerun per resample).",
        "DCASE 2024: FER is the share of captions the fluency checker flags (lower is better); "
        "FENSE and SPIDEr-FL are SBERT-sim and SPIDEr with flagged captions penalised; Vocab is "
        "the number of distinct words of the captions, mean over seeds, without an interval "
        "(not a mean of per-clip scores) and not compared.",
        f"Comparisons: paired bootstrap (same resamples of clips and seeds), two-sided p, "
        f"Holm-corrected over the table's {tests} tests; a verdict is `better` or `worse` "
        f"when the corrected p < {s.alpha}.",
    ]
    if not comparable:
        lines.append(f"The paper's numbers are on Clotho v2.1; this run is on dataset "
                     f"{dataset!r}, so they are not comparable and are not shown.")
    return lines


def to_markdown(rows: list[Row], columns: list[tuple[str, str]], lines: list[str],
                comparisons: list[Comparison]) -> str:
    """The table, its notes and comparisons; n/a cells carry a footnote mark, each reason is
    stated once at the end."""
    notes = Footnotes()
    with_paper = any(row.paper for row in rows)
    heads = []
    for key, label in columns:
        heads.append(label)
        if with_paper and any(key in row.paper for row in rows):
            heads.append(f"{label} (paper)")
    out = ["| model | " + " | ".join(heads) + " | seeds | clips | MLflow runs |",
           "|---|" + "---:|" * len(heads) + "---:|---:|---|"]
    for row in rows:
        cells = []
        for key, _ in columns:
            cells.append(row.cells[key].markdown(notes))
            if with_paper and any(key in r.paper for r in rows):
                cells.append(row.paper.get(key, ""))
        out.append(f"| {row.model} | {' | '.join(cells)} | {row.seeds} | {row.clips} | "
                   f"{row.runs} |")
    out += ["", *lines, "", comparisons_markdown(comparisons, dict(columns), notes,
                                                  with_notes=False)]
    return "\n".join(out) + footnotes_markdown(notes)


def footnotes_markdown(notes: Footnotes) -> str:
    """Each footnote as its own paragraph ("" without any)."""
    return "".join(f"\n{line}\n" for line in notes.lines() if line)


def comparisons_markdown(comparisons: list[Comparison], labels: dict[str, str],
                         notes: Footnotes | None = None, with_notes: bool = True) -> str:
    """The comparisons table; ``notes`` shared with a table above, whose end states them
    (``with_notes`` False), or its own, stated below."""
    notes = notes if notes is not None else Footnotes()
    out = ["| comparison | metric | difference x100 [95% CI] | p | p (Holm) | verdict | seeds |",
           "|---|---|---:|---:|---:|---|---:|"]
    for c in comparisons:
        if c.difference is None:
            verdict = notes.na(c.reason) if c.reason is not None else c.verdict
            out.append(f"| {c.name} | {labels[c.key]} | | | | {verdict} | {c.seeds} |")
            continue
        d = c.difference
        out.append(f"| {c.name} | {labels[c.key]} | {100 * d.difference:+.1f} "
                   f"[{100 * d.low:+.1f}, {100 * d.high:+.1f}] | {bootstrap.format_p(d.p)} | "
                   f"{bootstrap.format_p(c.p_holm or 1.0)} | {c.verdict} | {c.seeds} |")
    return "\n".join(out) + "\n" + (footnotes_markdown(notes) if with_notes else "")


def _number(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.4f}"


def to_csv(rows: list[Row], columns: list[tuple[str, str]]) -> str:
    """Per metric: the estimate, low and high (x100; the reason when n/a); the paper's value
    and its mark on Clotho."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    with_paper = any(row.paper for row in rows)
    head = []
    for key, _ in columns:
        head += [key, f"{key}_low", f"{key}_high"] + ([f"{key}_paper"] if with_paper else [])
    writer.writerow(["model", *head, "seeds", "clips", "mlflow_runs"])
    for row in rows:
        values = []
        for key, _ in columns:
            c = row.cells[key]
            i = c.interval
            if c.value is not None:
                values += [f"{c.value:.4f}", "", ""]
            else:
                values += ([_number(i.mean), _number(i.low), _number(i.high)] if i else
                           [c.text, "", ""])
            if with_paper:
                values.append(row.paper.get(key, ""))
        writer.writerow([row.model, *values, row.seeds, row.clips, row.runs])
    return out.getvalue()


def comparisons_csv(comparisons: list[Comparison]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["comparison", "metric", "difference", "low", "high", "p", "p_holm",
                     "verdict", "seeds", "clips"])
    for c in comparisons:
        d = c.difference
        writer.writerow([c.name, c.key, _number(d.difference if d else None),
                         _number(d.low if d else None), _number(d.high if d else None),
                         f"{d.p:.6g}" if d else "", f"{c.p_holm:.6g}" if d else "",
                         c.verdict, c.seeds, c.clips])
    return out.getvalue()


def slug(text: str) -> str:
    """A metric-name-safe key: "MAAC: RL vs CE" -> "maac_rl_vs_ce"."""
    chars = [ch.lower() if ch.isalnum() else "_" for ch in text]
    return "_".join(part for part in "".join(chars).split("_") if part)


def summary(rows: list[Row], comparisons: list[Comparison]) -> dict[str, Any]:
    """Intervals and comparisons as nested numbers (x100; for DVC metrics and MLflow)."""
    cells: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = {key: {"mean": 100 * c.interval.mean, "low": 100 * c.interval.low,
                       "high": 100 * c.interval.high,
                       **({"paper": row.paper_values[key]} if key in row.paper_values else {})}
                 for key, c in row.cells.items() if c.interval}
        entry.update({key: {"value": c.value} for key, c in row.cells.items()
                      if c.value is not None})
        if entry:
            cells[slug(row.model)] = {"label": row.model, "seeds": row.seeds, **entry}
    tests: dict[str, dict[str, Any]] = {}
    for c in comparisons:
        if c.difference is not None:
            tests.setdefault(slug(c.name), {})[c.key] = {
                "difference": 100 * c.difference.difference, "low": 100 * c.difference.low,
                "high": 100 * c.difference.high, "p": c.difference.p, "p_holm": c.p_holm}
    return {"cells": cells, "comparisons": tests}


def write_text(text: str, path: Path) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
